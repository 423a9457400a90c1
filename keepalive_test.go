package wsx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// keepalivePair connects a wsx server Conn with the given keepalive to a
// raw client peer over a synchronous in-memory pipe, inside a synctest
// bubble, where time only moves when every goroutine waits. The Conn is
// read continuously; its read error arrives on the returned channel.
func keepalivePair(t *testing.T, cfg keepaliveConfig) (*Conn, *rawpeer.Conn, <-chan error) {
	a, b := net.Pipe()
	c := newConn(a, false, nil, "", connConfig{keepalive: cfg})
	peer := rawpeer.NewConn(t, b, true)
	peer.Timeout = time.Hour
	errc := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				errc <- err
				return
			}
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return c, peer, errc
}

// elapsed is the bubble's time since start, the moment the test began.
func elapsed(start time.Time) time.Duration { return time.Since(start) }

func TestKeepaliveSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		c, peer, errc := keepalivePair(t, keepaliveConfig{pingInterval: 30 * time.Second, pongTimeout: 10 * time.Second})

		// The peer reads but never answers: one ping after 30 s of
		// silence, then a close frame 1011 10 s later.
		f := peer.WantFrame()
		if f.Opcode != rawpeer.OpPing || elapsed(start) != 30*time.Second {
			t.Fatalf("got %v at %v, want a ping at 30s", f, elapsed(start))
		}
		reason := peer.WantClose(1011)
		if elapsed(start) != 40*time.Second || reason != "keepalive ping timeout" {
			t.Fatalf("close 1011 %q at %v, want \"keepalive ping timeout\" at 40s", reason, elapsed(start))
		}
		peer.WantEOF()
		err := <-errc
		if !errors.Is(err, ErrPongTimeout) {
			t.Fatalf("read error %v, want ErrPongTimeout", err)
		}
		if ce, ok := c.CloseSent(); !ok || ce.Code != StatusInternalError {
			t.Errorf("CloseSent() = %v, %v; want 1011", ce, ok)
		}
		if _, ok := c.CloseReceived(); ok {
			t.Errorf("CloseReceived() reports a close frame the peer never sent")
		}
	})
}

func TestKeepaliveAnsweringPeer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       keepaliveConfig
		peerSends time.Duration // the peer sends a message this often; 0 never
		wantPings int
	}{
		// Pongs keep the connection open: a ping every 30 s of silence.
		{"pongs", keepaliveConfig{pingInterval: 30 * time.Second}, 0, 9},
		// Traffic from the peer makes pings unnecessary.
		{"traffic", keepaliveConfig{pingInterval: 30 * time.Second}, 20 * time.Second, 0},
		// Traffic less often than the interval: a ping 30 s after each
		// message.
		{"sparse traffic", keepaliveConfig{pingInterval: 30 * time.Second}, 50 * time.Second, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				c, peer, errc := keepalivePair(t, tc.cfg)
				done := make(chan struct{})
				defer close(done)
				if tc.peerSends > 0 {
					go func() {
						for {
							select {
							case <-done:
								return
							case <-time.After(tc.peerSends):
							}
							if peer.Write(peer.Encode(rawpeer.Text("tick"))) != nil {
								return
							}
						}
					}()
				}
				frames := make(chan rawpeer.Frame)
				go func() {
					for {
						f, err := peer.ReadFrame()
						if err != nil {
							return
						}
						select {
						case frames <- f:
						case <-done:
							return
						}
					}
				}()
				const end = 299 * time.Second
				timeUp := time.After(end)
				var pingTimes []time.Duration
			loop:
				for {
					select {
					case f := <-frames:
						if f.Opcode != rawpeer.OpPing {
							t.Fatalf("got %v at %v, want only pings", f, elapsed(start))
						}
						pingTimes = append(pingTimes, elapsed(start))
						peer.Write(peer.Encode(rawpeer.Pong(f.Payload)))
					case <-timeUp:
						break loop
					}
				}
				if len(pingTimes) != tc.wantPings {
					t.Fatalf("pings at %v, want %d pings in %v", pingTimes, tc.wantPings, end)
				}
				for i, at := range pingTimes {
					// 30 s after the last message, or the last pong.
					want := time.Duration(i+1) * 30 * time.Second
					if tc.peerSends > 0 {
						want = time.Duration(i)*tc.peerSends + 30*time.Second
					}
					if at != want {
						t.Errorf("ping %d at %v, want %v", i, at, want)
					}
				}
				select {
				case err := <-errc:
					t.Fatalf("connection failed: %v", err)
				default:
				}
				c.CloseNow()
				<-errc
			})
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		activity  func(c *Conn, peer *rawpeer.Conn) // run at 50 s
		wantClose time.Duration
	}{
		{"no messages", func(*Conn, *rawpeer.Conn) {}, 60 * time.Second},
		{"message read", func(_ *Conn, peer *rawpeer.Conn) {
			peer.Write(peer.Encode(rawpeer.Text("hello")))
		}, 110 * time.Second},
		{"message written", func(c *Conn, _ *rawpeer.Conn) {
			c.Write(context.Background(), MessageText, []byte("hello"))
		}, 110 * time.Second},
		{"ping read", func(_ *Conn, peer *rawpeer.Conn) {
			peer.Write(peer.Encode(rawpeer.Ping(nil)))
		}, 60 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				c, peer, errc := keepalivePair(t, keepaliveConfig{pingInterval: 30 * time.Second, idleTimeout: 60 * time.Second})
				go func() {
					time.Sleep(50 * time.Second)
					tc.activity(c, peer)
				}()
				for {
					f := peer.WantFrame()
					switch f.Opcode {
					case rawpeer.OpPing:
						peer.Write(peer.Encode(rawpeer.Pong(f.Payload)))
						continue
					case rawpeer.OpPong, rawpeer.OpText:
						continue
					case rawpeer.OpClose:
					default:
						t.Fatalf("unexpected frame %v", f)
					}
					if got := rawpeer.ClosePayload(1001, "idle timeout"); string(f.Payload) != string(got) {
						t.Fatalf("close frame %q, want 1001 \"idle timeout\"", f.Payload)
					}
					if elapsed(start) != tc.wantClose {
						t.Fatalf("idle close at %v, want %v", elapsed(start), tc.wantClose)
					}
					break
				}
				peer.WriteFrame(rawpeer.Close(1001, ""))
				peer.WantEOF()
				err := <-errc
				if CloseStatus(err) != StatusGoingAway {
					t.Fatalf("read error %v, want the peer's close 1001", err)
				}
				if ce, ok := c.CloseSent(); !ok || ce != (CloseError{StatusGoingAway, "idle timeout"}) {
					t.Errorf("CloseSent() = %v, %v", ce, ok)
				}
			})
		})
	}
}

// TestKeepaliveOptions checks that both Accept and Dial take the options,
// over real sockets: a server pings a client that is not reading (so
// cannot answer) and fails it; a client does the same to a server.
func TestKeepaliveOptions(t *testing.T) {
	const interval = 50 * time.Millisecond
	t.Run("server", func(t *testing.T) {
		errc := make(chan error, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, &AcceptOptions{PingInterval: interval})
			if err != nil {
				errc <- err
				return
			}
			_, _, err = c.Read(context.Background())
			errc <- err
		}))
		defer srv.Close()
		c, _, err := Dial(context.Background(), srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := <-errc; !errors.Is(err, ErrPongTimeout) {
			t.Fatalf("server read: %v, want ErrPongTimeout", err)
		}
		// The client, reading only now, finds the server's close frame.
		_, _, err = c.Read(context.Background())
		if CloseStatus(err) != StatusInternalError {
			t.Fatalf("client read: %v, want close 1011", err)
		}
	})
	t.Run("client", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			<-release // not reading: pings go unanswered
		}))
		defer srv.Close()
		defer close(release)
		c, _, err := Dial(context.Background(), srv.URL, &DialOptions{PingInterval: interval, PongTimeout: interval})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Read(context.Background())
		if !errors.Is(err, ErrPongTimeout) || !strings.Contains(err.Error(), "keepalive") {
			t.Fatalf("client read: %v, want ErrPongTimeout", err)
		}
	})
}
