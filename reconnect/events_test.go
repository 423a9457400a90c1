package reconnect_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// TestEvents walks a Client through every way a connection ends, with one
// server behaviour per connection, and checks the events and what the
// server saw.
func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		closes := make(chan error, 10) // read errors of connections 4 and 6
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 5 {
				http.Error(w, "go away", http.StatusForbidden)
				return
			}
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			switch n {
			case 1:
				c.Close(4000, "bye")
			case 2:
				c.CloseNow()
			case 3:
				// Not UTF-8: the client fails the connection.
				c.Write(context.Background(), wsx.MessageText, []byte{0xff, 0xfe})
				readAll(c, new(sync.Mutex), new([]string))
			default:
				closes <- readAll(c, new(sync.Mutex), new([]string))
			}
		})
		defer srv.Close()
		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{
			DialOptions: srv.dialOptions(),
			Backoff:     reconnect.Backoff{Min: time.Second, Jitter: 0},
			OnEvent:     rec.on,
		})

		ev := rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 1})
		if ev.Response == nil || ev.Response.StatusCode != http.StatusSwitchingProtocols || ev.Err != nil {
			t.Errorf("Connected: response %v, err %v; want 101 and no error", ev.Response, ev.Err)
		}

		ev = rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.ServerClosed, Code: 4000, CloseReason: "bye", RetryIn: time.Second})
		if wsx.CloseStatus(ev.Err) != 4000 {
			t.Errorf("ServerClosed: error %v, want a wsx.CloseError with 4000", ev.Err)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.ServerClosed, Attempt: 1})

		ev = rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.Lost, RetryIn: 2 * time.Second})
		if ev.Err == nil || ev.Code != 0 {
			t.Errorf("Lost: error %v, code %v; want an error and no code", ev.Err, ev.Code)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Lost, Attempt: 1})

		ev = rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.Error, RetryIn: 4 * time.Second})
		if !errors.Is(ev.Err, wsx.ErrInvalidUTF8) {
			t.Errorf("Error: error %v, want wsx.ErrInvalidUTF8", ev.Err)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Error, Attempt: 1})

		c.Reconnect()
		ev = rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.ByRequest})
		if ev.RetryIn != 0 || ev.Err != nil {
			t.Errorf("ByRequest: RetryIn %v, err %v; want 0 and nil", ev.RetryIn, ev.Err)
		}
		var ce wsx.CloseError
		if err := <-closes; !errors.As(err, &ce) || ce != (wsx.CloseError{Code: 1000, Reason: "reconnect"}) {
			t.Errorf("server saw %v, want close 1000 \"reconnect\"", err)
		}
		// Connection 5 is refused; the reason stays ByRequest.
		ev = rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.ByRequest, Attempt: 1, RetryIn: 8 * time.Second})
		if !errors.Is(ev.Err, wsx.ErrHandshake) || ev.Response == nil || ev.Response.StatusCode != http.StatusForbidden {
			t.Fatalf("AttemptFailed: error %v, response %v; want wsx.ErrHandshake and 403", ev.Err, ev.Response)
		}
		if body, _ := io.ReadAll(ev.Response.Body); string(body) != "go away\n" {
			t.Errorf("refusal body %q, want \"go away\\n\"", body)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.ByRequest, Attempt: 2})

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if unsent, err := c.Close(ctx, 4001, "done"); unsent != 0 || err != nil {
			t.Errorf("Close: %d unsent, %v; want 0, nil", unsent, err)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.ByRequest})
		if err := <-closes; !errors.As(err, &ce) || ce != (wsx.CloseError{Code: 4001, Reason: "done"}) {
			t.Errorf("server saw %v, want close 4001 \"done\"", err)
		}
		if evs := rec.pending(); len(evs) > 0 {
			t.Errorf("after Close: %v %v", evs[0].Type, evs[0].Reason)
		}
	})
}

// TestOnConnect checks that OnConnect runs on every connection before the
// queued messages are written, that it can read a reply the Client does
// not deliver, and that its error fails the attempt.
func TestOnConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got syncList
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			ctx := context.Background()
			if err := c.Write(ctx, wsx.MessageText, []byte("welcome")); err != nil {
				return
			}
			for i := 0; ; i++ {
				_, p, err := c.Read(ctx)
				if err != nil {
					return
				}
				got.add(string(p))
				if string(p) == "subscribe" {
					c.Write(ctx, wsx.MessageText, []byte("data"))
				}
				if n == 2 && i == 2 {
					c.CloseNow()
					return
				}
			}
		})
		defer srv.Close()

		ready := make(chan struct{})
		errBoom := errors.New("boom")
		calls := 0
		rec := newRecorder()
		var c *reconnect.Client
		c = reconnect.New("ws://test/", &reconnect.Options{
			DialOptions: srv.dialOptions(),
			Prepare: func(ctx context.Context, attempt int) (string, *wsx.DialOptions, error) {
				<-ready
				return "", nil, nil
			},
			OnConnect: func(ctx context.Context, conn *wsx.Conn) error {
				calls++
				_, p, err := conn.Read(ctx)
				if err != nil {
					return err
				}
				if string(p) != "welcome" {
					t.Errorf("OnConnect read %q, want welcome", p)
				}
				if calls == 1 {
					return errBoom
				}
				return conn.Write(ctx, wsx.MessageText, []byte("subscribe"))
			},
			OnEvent: func(ev reconnect.Event) {
				rec.on(ev)
				if ev.Type == reconnect.Disconnected && ev.Reason == reconnect.Lost {
					// Queued while disconnected: goes out after
					// the next OnConnect.
					c.Send(context.Background(), wsx.MessageText, []byte("c"))
				}
			},
		})
		defer closeClient(t, c)
		ctx := context.Background()
		for _, m := range []string{"a", "b"} {
			if err := c.Send(ctx, wsx.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		close(ready)

		ev := rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: 1})
		if !errors.Is(ev.Err, errBoom) {
			t.Errorf("AttemptFailed: error %v, want the OnConnect error", ev.Err)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 2})
		rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.Lost})
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Lost, Attempt: 1})
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		// Connection 1 saw nothing (OnConnect failed before writing);
		// connection 2 the subscription, then the queue; connection 3
		// the subscription, then what was queued meanwhile.
		want := []string{"subscribe", "a", "b", "subscribe", "c"}
		if g := got.get(); !slices.Equal(g, want) {
			t.Errorf("server received %q, want %q", g, want)
		}
		for range 2 {
			if m := <-c.Messages(); string(m.Data) != "data" {
				t.Errorf("message %q, want \"data\" (welcome is OnConnect's)", m.Data)
			}
		}
		select {
		case m := <-c.Messages():
			t.Errorf("unexpected message %q", m.Data)
		default:
		}
	})
}

// TestConnectTimeout checks that ConnectTimeout bounds the handshake and
// OnConnect.
func TestConnectTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-srv.ctx.Done() // never answers the handshake
				return
			}
			if c := srv.accept(t, w, r); c != nil {
				readAll(c, new(sync.Mutex), new([]string)) // never sends
			}
		})
		defer srv.Close()
		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{
			DialOptions:    srv.dialOptions(),
			ConnectTimeout: 5 * time.Second,
			Backoff:        reconnect.Backoff{Min: time.Second, Jitter: 0},
			OnConnect: func(ctx context.Context, conn *wsx.Conn) error {
				_, _, err := conn.Read(context.Background()) // ignores ctx
				return err
			},
			OnEvent: rec.on,
		})
		defer closeClient(t, c)
		for i, at := range []time.Duration{5 * time.Second, 11 * time.Second} {
			ev := rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: i + 1})
			if !errors.Is(ev.Err, context.DeadlineExceeded) || ev.At != at {
				t.Errorf("attempt %d: %v at %v, want context.DeadlineExceeded at %v", i+1, ev.Err, ev.At, at)
			}
		}
	})
}
