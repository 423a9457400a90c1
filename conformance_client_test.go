package wsx_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

var clientSides = []side{
	{name: "client/write", client: true},
	{name: "client/stream", client: true, stream: true},
}

// clientHarness runs wsx.Dial against a raw peer listening on 127.0.0.1.
// Connections are opened one at a time, so the next accepted client is
// the one just dialled.
type clientHarness struct {
	s     side
	cfg   config
	ln    *rawpeer.Listener
	reads atomic.Int64
}

func startClientHarness(t *testing.T, s side, cfg config) *clientHarness {
	return &clientHarness{s: s, cfg: cfg, ln: rawpeer.Listen(t)}
}

func (h *clientHarness) chunkedReads() int64 { return h.reads.Load() }

func (h *clientHarness) open(t *testing.T, first ...[]byte) *endpoint {
	t.Helper()
	ep := newEndpoint(t)
	opts := &wsx.DialOptions{
		ReadLimit: h.cfg.readLimit,
		Proxy:     func(*http.Request) (*url.URL, error) { return nil, nil },
	}
	if h.s.chunk != whole {
		mode := h.s.chunk
		opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &chunkConn{nc, mode, &h.reads}, nil
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), appTimeout)
		defer cancel()
		c, _, err := wsx.Dial(ctx, "ws://"+h.ln.Addr()+"/", opts)
		if err != nil {
			ep.done <- err
			return
		}
		ep.done <- runApp(h.cfg.app, c, ep.got)
	}()
	t.Cleanup(ep.end)
	ep.Conn = h.ln.Accept(t, first...)
	return ep
}

// TestConformanceEarlyFrames sends frames in the same write as the
// handshake message, so they arrive in the buffer that read the handshake:
// wsx must not lose them (RFC 6455 §4.1 lets a server send frames right
// after its response; a client may pipeline too).
func TestConformanceEarlyFrames(t *testing.T) {
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			ping := rawpeer.Ping([]byte("early"))
			text := rawpeer.Text("early text")
			var first []byte
			for _, f := range []rawpeer.Frame{ping, text} {
				if s.client {
					first = rawpeer.AppendFrame(first, f)
				} else {
					f.Masked, f.Key = true, rfcKey
					first = rawpeer.AppendFrame(first, f)
				}
			}
			ep := h.open(t, first)
			if f := ep.WantFrame(); f.Opcode != rawpeer.OpPong || string(f.Payload) != "early" {
				t.Fatalf("early ping answered with %v", f)
			}
			ep.wantEcho(rawpeer.OpText, []byte("early text"))
			ep.closeHandshake()
		})
	}
}

// TestCloseFrameWinsOverContext: when the server's close frame has arrived
// and the client then waits for the server to close TCP, a context ending
// during that wait does not hide the close frame from Read.
func TestCloseFrameWinsOverContext(t *testing.T) {
	ln := rawpeer.Listen(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		peer := ln.Accept(t)
		peer.WriteFrame(rawpeer.Close(1001, "going"))
		peer.WantClose(1001)
		time.Sleep(800 * time.Millisecond) // TCP stays open
		peer.Close()
	}()
	c, _, err := wsx.Dial(context.Background(), "ws://"+ln.Addr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err = c.Read(ctx)
	if wsx.CloseStatus(err) != wsx.StatusGoingAway {
		t.Fatalf("Read: %v, want the server's close 1001", err)
	}
	<-done
}
