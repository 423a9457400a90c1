package reconnect_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// closeClient closes c, failing the test if messages were left unsent.
func closeClient(t *testing.T, c *reconnect.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if unsent, _ := c.Close(ctx, wsx.StatusNormalClosure, ""); unsent != 0 {
		t.Errorf("close: %d messages unsent", unsent)
	}
}

func TestInactivity(t *testing.T) {
	const timeout = 30 * time.Second
	tests := []struct {
		name   string
		ping   time.Duration
		server string // "silent": never reads; "reading": reads (answers pings), never sends
		fires  bool
	}{
		{"silent server, no pings", 0, "silent", true},
		{"silent server, pings", 10 * time.Second, "silent", true},
		{"reading server, no pings", 0, "reading", true},
		{"reading server, pings", 10 * time.Second, "reading", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var srv *testServer
				srv = newTestServer(func(_ int, w http.ResponseWriter, r *http.Request) {
					c := srv.accept(t, w, r)
					if c == nil {
						return
					}
					if tt.server == "silent" {
						<-srv.ctx.Done()
						return
					}
					for {
						if _, _, err := c.Read(context.Background()); err != nil {
							return
						}
					}
				})
				defer srv.Close()
				rec := newRecorder()
				c := reconnect.New("ws://test/", &reconnect.Options{
					DialOptions:       srv.dialOptions(),
					InactivityTimeout: timeout,
					PingInterval:      tt.ping,
					Backoff:           reconnect.Backoff{Min: time.Second, Jitter: 0},
					OnEvent:           rec.on,
				})
				defer closeClient(t, c)

				up := rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 1})
				if !tt.fires {
					time.Sleep(24 * time.Hour)
					if evs := rec.pending(); len(evs) > 0 {
						t.Fatalf("after 24h: %v %v at %v, want no event", evs[0].Type, evs[0].Reason, evs[0].At)
					}
					return
				}
				// Each connection lasted past StableAfter, so the
				// backoff starts again from Min every time.
				for range 3 {
					down := rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.Inactivity, RetryIn: time.Second})
					if got := down.At - up.At; got != timeout {
						t.Errorf("disconnected %v after connecting, want exactly %v", got, timeout)
					}
					if down.Err == nil {
						t.Errorf("Disconnected for inactivity without an error")
					}
					up = rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Inactivity, Attempt: 1})
					if got := up.At - down.At; got != down.RetryIn {
						t.Errorf("reconnected %v after disconnecting, want %v", got, down.RetryIn)
					}
				}
			})
		})
	}
}

// TestInactivitySlowConsumer checks that time spent waiting for the
// program to make room in Messages is not taken for the server's silence:
// while Messages is full the Client reads nothing, pongs included.
func TestInactivitySlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var srv *testServer
		srv = newTestServer(func(_ int, w http.ResponseWriter, r *http.Request) {
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			for _, m := range []string{"1", "2", "3"} {
				if err := c.Write(context.Background(), wsx.MessageText, []byte(m)); err != nil {
					return
				}
			}
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		})
		defer srv.Close()
		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{
			DialOptions:       srv.dialOptions(),
			InactivityTimeout: 30 * time.Second,
			PingInterval:      10 * time.Second,
			ReceiveBuffer:     1,
			OnEvent:           rec.on,
		})
		defer closeClient(t, c)
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 1})
		time.Sleep(10 * time.Minute)
		for _, want := range []string{"1", "2", "3"} {
			if m := <-c.Messages(); string(m.Data) != want {
				t.Fatalf("message %q, want %q", m.Data, want)
			}
		}
		time.Sleep(10 * time.Minute)
		if evs := rec.pending(); len(evs) > 0 {
			t.Fatalf("%v %v at %v, want no event", evs[0].Type, evs[0].Reason, evs[0].At)
		}
	})
}

// TestInactivityDialKeepalive checks that wsx's own keepalive, turned on
// in the dial options, is reported as inactivity too: a ping that the
// server never answers (it reads the connection's bytes but does not
// process them), and the idle timeout (the server reads and answers, but
// no message goes either way).
func TestInactivityDialKeepalive(t *testing.T) {
	tests := []struct {
		name    string
		ping    time.Duration
		pong    time.Duration
		idle    time.Duration
		after   time.Duration
		wantErr func(error) bool
	}{
		{"pong timeout", 10 * time.Second, 5 * time.Second, 0, 15 * time.Second,
			func(err error) bool { return errors.Is(err, wsx.ErrPongTimeout) }},
		{"idle timeout", 0, 0, 30 * time.Second, 30 * time.Second,
			func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var srv *testServer
				srv = newTestServer(func(_ int, w http.ResponseWriter, r *http.Request) {
					c := srv.accept(t, w, r)
					if c == nil {
						return
					}
					if tt.ping > 0 {
						io.Copy(io.Discard, r.Context().Value(rawConnKey{}).(net.Conn))
						return
					}
					readAll(c, new(sync.Mutex), new([]string))
				})
				defer srv.Close()
				rec := newRecorder()
				opts := srv.dialOptions()
				opts.PingInterval, opts.PongTimeout, opts.IdleTimeout = tt.ping, tt.pong, tt.idle
				c := reconnect.New("ws://test/", &reconnect.Options{
					DialOptions: opts,
					OnEvent:     rec.on,
					OnConnect: func(ctx context.Context, c *wsx.Conn) error {
						return c.Write(ctx, wsx.MessageText, []byte("subscribe"))
					},
				})
				defer closeClient(t, c)
				up := rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 1})
				down := rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.Inactivity})
				if got := down.At - up.At; got != tt.after {
					t.Errorf("disconnected after %v, want %v", got, tt.after)
				}
				if !tt.wantErr(down.Err) {
					t.Errorf("unexpected error %v", down.Err)
				}
				rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Inactivity, Attempt: 1})
			})
		})
	}
}

// syncList is a list of strings shared with server handlers.
type syncList struct {
	mu   sync.Mutex
	list []string
}

func (l *syncList) add(s string) {
	l.mu.Lock()
	l.list = append(l.list, s)
	l.mu.Unlock()
}

func (l *syncList) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.list...)
}
