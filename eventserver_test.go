package wsx_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// withEventSide adds the EventServer to the conformance tests' server
// sides where it runs.
func withEventSide(sides []side) []side {
	if runtime.GOOS == "linux" {
		sides = append(sides, side{name: "server/event", event: true})
	}
	return sides
}

// eventHarness runs an EventServer with one loop that echoes every
// message. Each raw client names its endpoint in the request URI.
type eventHarness struct {
	addr string

	mu      sync.Mutex
	next    int
	waiting map[string]*endpoint
	eps     map[*wsx.Conn]*endpoint
}

func startEventHarness(t *testing.T, cfg config) *eventHarness {
	h := &eventHarness{waiting: map[string]*endpoint{}, eps: map[*wsx.Conn]*endpoint{}}
	srv := &wsx.EventServer{
		Options: wsx.AcceptOptions{ReadLimit: cfg.readLimit},
		Loops:   1,
		OnOpen: func(c *wsx.Conn, r *http.Request) {
			h.mu.Lock()
			defer h.mu.Unlock()
			id := r.URL.Query().Get("id")
			h.eps[c] = h.waiting[id]
			delete(h.waiting, id)
		},
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			h.mu.Lock()
			ep := h.eps[c]
			h.mu.Unlock()
			ep.got <- message{typ, bytes.Clone(msg)}
			ctx, cancel := context.WithTimeout(context.Background(), appTimeout)
			defer cancel()
			c.Write(ctx, typ, msg)
		},
		OnClose: func(c *wsx.Conn, err error) {
			h.mu.Lock()
			ep := h.eps[c]
			delete(h.eps, c)
			h.mu.Unlock()
			ep.done <- err
		},
	}
	h.addr = strings.TrimPrefix(eventServer(t, srv), "ws://")
	return h
}

// eventServer runs s on a free port of 127.0.0.1 until the test ends and
// returns the ws:// URL. Serve must return nil once its context ends.
func eventServer(t *testing.T, s *wsx.EventServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve still running 10s after its context ended")
		}
	})
	return "ws://" + ln.Addr().String()
}

func (h *eventHarness) chunkedReads() int64 { return 0 }

func (h *eventHarness) open(t *testing.T, first ...[]byte) *endpoint {
	t.Helper()
	ep := newEndpoint(t)
	h.mu.Lock()
	h.next++
	id := string(rune('a'+h.next%26)) + time.Now().Format("150405.000000000")
	h.waiting[id] = ep
	h.mu.Unlock()
	ep.Conn = rawpeer.Dial(t, h.addr, "/?id="+id, first...)
	t.Cleanup(ep.end)
	return ep
}
