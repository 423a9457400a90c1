//go:build linux

package wsx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

func echoEvents(s *wsx.EventServer) *wsx.EventServer {
	s.OnMessage = func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Write(ctx, typ, msg)
	}
	return s
}

func dialT(t *testing.T, url string, opts *wsx.DialOptions) *wsx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestEventServerEcho sends messages of every size class, whole and in
// fragments, with and without compression, over several connections and
// loops at once, and checks every echo byte for byte.
func TestEventServerEcho(t *testing.T) {
	for _, mode := range []wsx.CompressionMode{wsx.CompressionDisabled, wsx.CompressionNoContextTakeover, wsx.CompressionContextTakeover} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			url := eventServer(t, echoEvents(&wsx.EventServer{
				Options: wsx.AcceptOptions{CompressionMode: mode, CompressionThreshold: -1},
				Loops:   2,
			}))
			sizes := []int{0, 1, 125, 126, 8191, 8192, 65535, 65536, 200_000, 3 << 20}
			if mode != wsx.CompressionDisabled {
				// One loop serves several of these connections, and
				// compressing megabytes under the race detector takes
				// long enough to hold up their close handshakes.
				sizes = sizes[:len(sizes)-2]
			}
			var wg sync.WaitGroup
			for conn := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := dialT(t, url+"/", &wsx.DialOptions{CompressionMode: mode, CompressionThreshold: -1})
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					for i, n := range sizes {
						typ := wsx.MessageBinary
						p := make([]byte, n)
						for j := range p {
							p[j] = byte(j*7 + conn + i)
						}
						if i%2 == 0 {
							typ = wsx.MessageText
							p = bytes.Repeat([]byte("é"), n/2)
						}
						if conn%2 == 1 && n > 0 {
							// Streamed: several frames.
							w, err := c.Writer(ctx, typ)
							if err != nil {
								t.Error(err)
								return
							}
							for k := 0; k < len(p); k += 3000 {
								w.Write(p[k:min(k+3000, len(p))])
							}
							if err := w.Close(); err != nil {
								t.Error(err)
								return
							}
						} else if err := c.Write(ctx, typ, p); err != nil {
							t.Error(err)
							return
						}
						gt, got, err := c.Read(ctx)
						if err != nil {
							t.Errorf("conn %d, %d bytes: %v", conn, n, err)
							return
						}
						if gt != typ || !bytes.Equal(got, p) {
							t.Errorf("conn %d: %v message of %d bytes echoed as %v of %d bytes", conn, typ, len(p), gt, len(got))
							return
						}
					}
					if err := c.Close(wsx.StatusNormalClosure, ""); err != nil {
						t.Errorf("Close: %v", err)
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestEventServerLifecycle checks what a program sees: OnOpen with the
// request, OnMessage, the read methods refused, OnClose with the peer's
// close frame, and a Close from the server reaching the client.
func TestEventServerLifecycle(t *testing.T) {
	type event struct {
		what string
		c    *wsx.Conn
		err  error
	}
	events := make(chan event, 16)
	url := eventServer(t, &wsx.EventServer{
		OnOpen: func(c *wsx.Conn, r *http.Request) {
			events <- event{what: "open " + r.URL.Path + " " + r.Header.Get("X-Who"), c: c}
		},
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			ctx := context.Background()
			switch string(msg) {
			case "read":
				_, _, err := c.Read(ctx)
				_, _, rerr := c.Reader(ctx)
				c.Write(ctx, wsx.MessageText, []byte(fmt.Sprintf("%v|%v", err != nil, rerr != nil)))
			case "bye":
				if err := c.Close(4000, "bye"); err != nil {
					events <- event{what: "Close failed", err: err}
				}
			}
		},
		OnClose: func(c *wsx.Conn, err error) { events <- event{what: "close", c: c, err: err} },
	})
	next := func() event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10s")
			return event{}
		}
	}
	ctx := context.Background()

	c := dialT(t, url+"/room/7", &wsx.DialOptions{HTTPHeader: http.Header{"X-Who": {"ann"}}})
	if e := next(); e.what != "open /room/7 ann" {
		t.Fatalf("first event %q, want OnOpen with the path and header", e.what)
	}
	c.Write(ctx, wsx.MessageText, []byte("read"))
	if _, got, err := c.Read(ctx); err != nil || string(got) != "true|true" {
		t.Fatalf("Read and Reader from OnMessage: %q %v, want both refused", got, err)
	}
	if err := c.Close(4001, "done"); err != nil {
		t.Fatalf("client Close: %v", err)
	}
	e := next()
	if e.what != "close" || wsx.CloseStatus(e.err) != 4001 {
		t.Fatalf("OnClose(%v), want the client's 4001", e.err)
	}
	if ce, ok := e.c.CloseSent(); !ok || ce.Code != 4001 {
		t.Fatalf("server CloseSent = %v %v, want the echo of 4001", ce, ok)
	}

	c = dialT(t, url+"/", nil)
	next()
	c.Write(ctx, wsx.MessageText, []byte("bye"))
	_, _, err := c.Read(ctx)
	if ce := (wsx.CloseError{}); !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
		t.Fatalf("client Read after the server's Close = %v, want CloseError 4000 bye", err)
	}
	if e := next(); e.what != "close" || wsx.CloseStatus(e.err) != 4000 {
		t.Fatalf("OnClose(%v) after the server's Close, want the client's echo 4000 (%s)", e.err, e.what)
	}
}

// TestEventServerShutdown ends Serve's context with clients connected:
// each gets 1001, each gets an OnClose, and the listener is closed.
func TestEventServerShutdown(t *testing.T) {
	var closed atomic.Int32
	s := echoEvents(&wsx.EventServer{Loops: 2, OnClose: func(*wsx.Conn, error) { closed.Add(1) }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	url := "ws://" + ln.Addr().String() + "/"
	var conns []*wsx.Conn
	for range 5 {
		c := dialT(t, url, nil)
		c.Write(context.Background(), wsx.MessageText, []byte("hi"))
		if _, _, err := c.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	cancel()
	for i, c := range conns {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := c.Read(rctx)
		rcancel()
		if wsx.CloseStatus(err) != wsx.StatusGoingAway {
			t.Errorf("client %d read %v, want close 1001", i, err)
		}
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5s after its context ended")
	}
	if n := closed.Load(); n != 5 {
		t.Errorf("OnClose called %d times, want 5", n)
	}
	if nc, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		nc.Close()
		t.Error("the listener still accepts after Serve returned")
	}
}

// TestEventServerRefusals checks the handshakes the server turns down.
func TestEventServerRefusals(t *testing.T) {
	url := eventServer(t, echoEvents(&wsx.EventServer{
		Check: func(r *http.Request) error {
			if r.URL.Path == "/private" {
				return errors.New("not for you")
			}
			return nil
		},
		HandshakeTimeout: 300 * time.Millisecond,
	}))
	addr := url[len("ws://"):]
	ctx := context.Background()
	_, resp, err := wsx.Dial(ctx, url+"/private", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Dial /private: %v %v, want 403", resp, err)
	}

	raw := func(req string) string {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write([]byte(req))
		b, _ := io.ReadAll(nc)
		return string(b)
	}
	for _, tt := range []struct{ req, want string }{
		{"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 405 "},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 426 "},
		{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", "HTTP/1.1 426 "},
		{"nonsense\r\n\r\n", "HTTP/1.1 400 "},
		{"GET / HTTP/1.1\r\nHost: x\r\nX: " + string(bytes.Repeat([]byte("a"), 17000)) + "\r\n\r\n", "HTTP/1.1 431 "},
	} {
		if got := raw(tt.req); !bytes.HasPrefix([]byte(got), []byte(tt.want)) {
			t.Errorf("request %.40q answered %.60q, want %q", tt.req, got, tt.want)
		}
	}

	// A head longer than the first read buffer is read whole.
	pad := http.Header{"X-Pad": {string(bytes.Repeat([]byte("p"), 10000))}}
	c, _, err := wsx.Dial(ctx, url+"/", &wsx.DialOptions{HTTPHeader: pad})
	if err != nil {
		t.Fatalf("Dial with a 10 KB header: %v", err)
	}
	c.CloseNow()

	// A client that sends half a request, or nothing, is dropped after
	// HandshakeTimeout.
	for _, partial := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n"} {
		start := time.Now()
		got := raw(partial)
		if got != "" || time.Since(start) < 250*time.Millisecond || time.Since(start) > 3*time.Second {
			t.Errorf("partial request %q: answered %q after %v, want the connection closed after about 300ms", partial, got, time.Since(start))
		}
	}
}

// TestEventServerSlowPeer writes from OnMessage to a client that reads
// slowly: the writes wait for the client, nothing is lost, and another
// loop's connection is served meanwhile.
func TestEventServerSlowPeer(t *testing.T) {
	const count, size = 40, 256 << 10
	url := eventServer(t, &wsx.EventServer{
		Loops: 2,
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			ctx := context.Background()
			if string(msg) != "flood" {
				c.Write(ctx, typ, msg)
				return
			}
			p := make([]byte, size)
			for i := range count {
				p[0] = byte(i)
				if err := c.Write(ctx, wsx.MessageBinary, p); err != nil {
					return
				}
			}
		},
	})
	ctx := context.Background()
	slow := dialT(t, url+"/", nil)
	slow.Write(ctx, wsx.MessageText, []byte("flood"))
	time.Sleep(100 * time.Millisecond)
	for i := range count {
		_, p, err := slow.Read(ctx)
		if err != nil || len(p) != size || p[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, first %d, %v", i, len(p), p[0], err)
		}
		if i%8 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestEventServerKeepalive checks the heartbeat: a silent client gets a
// ping, and close 1011 when it does not answer.
func TestEventServerKeepalive(t *testing.T) {
	var closeErr atomic.Pointer[error]
	url := eventServer(t, &wsx.EventServer{
		Options: wsx.AcceptOptions{PingInterval: 200 * time.Millisecond, PongTimeout: 200 * time.Millisecond},
		OnClose: func(c *wsx.Conn, err error) { closeErr.Store(&err) },
	})
	peer := rawpeer.Dial(t, url[len("ws://"):], "/")
	if f := peer.WantFrame(); f.Opcode != rawpeer.OpPing {
		t.Fatalf("want a ping, got %v", f)
	}
	peer.WantClose(1011)
	peer.Finish()
	deadline := time.Now().Add(5 * time.Second)
	for closeErr.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p := closeErr.Load(); p == nil || !errors.Is(*p, wsx.ErrPongTimeout) {
		t.Fatalf("OnClose error %v, want ErrPongTimeout", p)
	}
}
