package hub

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/leak"
)

func TestMain(m *testing.M) { leak.Main(m) }

// testNode is a Hub behind an HTTP server: every WebSocket connection to
// the server becomes a member, handed to the test on members, and is read
// until it ends, when the member is closed.
type testNode struct {
	hub      *Hub
	srv      *httptest.Server
	url      string
	members  chan *Member
	handlers sync.WaitGroup
}

func newTestNode(t testing.TB, opts *Options, accept *wsx.AcceptOptions) *testNode {
	t.Helper()
	n := &testNode{hub: New(opts), members: make(chan *Member, 16)}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.handlers.Add(1)
		defer n.handlers.Done()
		c, err := wsx.Accept(w, r, accept)
		if err != nil {
			return
		}
		defer c.CloseNow()
		m := n.hub.Add(c)
		defer m.Close()
		n.members <- m
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	n.url = "ws" + strings.TrimPrefix(n.srv.URL, "http")
	t.Cleanup(func() {
		n.srv.Close()
		n.hub.Close()
		n.srv.CloseClientConnections()
		n.handlers.Wait()
	})
	return n
}

// testClient is a client connection and, unless it was made not to read,
// the text messages it received.
type testClient struct {
	c    *wsx.Conn
	m    *Member // the server's side
	msgs chan string
	end  chan error // the read loop's end
}

// dial connects a client that reads every message into msgs.
func (n *testNode) dial(t testing.TB) *testClient {
	t.Helper()
	cl := n.dialOpts(t, nil)
	cl.read()
	return cl
}

// dialOpts connects a client that does not read yet.
func (n *testNode) dialOpts(t testing.TB, opts *wsx.DialOptions) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, n.url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	cl := &testClient{c: c, msgs: make(chan string, 100000), end: make(chan error, 1)}
	select {
	case cl.m = <-n.members:
	case <-ctx.Done():
		t.Fatal("the server did not add the connection")
	}
	return cl
}

// read starts the client's read loop.
func (cl *testClient) read() {
	go func() {
		for {
			_, p, err := cl.c.Read(context.Background())
			if err != nil {
				cl.end <- err
				return
			}
			cl.msgs <- string(p)
		}
	}()
}

// next returns the next message the client received.
func (cl *testClient) next(t testing.TB) string {
	t.Helper()
	// What arrived before the end comes first.
	select {
	case s := <-cl.msgs:
		return s
	default:
	}
	select {
	case s := <-cl.msgs:
		return s
	case err := <-cl.end:
		select {
		case s := <-cl.msgs:
			cl.end <- err
			return s
		default:
		}
		cl.end <- err
		t.Fatalf("connection ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return ""
}

// expect checks that the next messages are want, in order.
func (cl *testClient) expect(t testing.TB, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := cl.next(t); got != w {
			t.Fatalf("received %q, want %q", preview(got), w)
		}
	}
}

// join makes cl's member join rooms.
func (cl *testClient) join(t testing.TB, rooms ...string) {
	t.Helper()
	for _, r := range rooms {
		if err := cl.m.Join(context.Background(), r); err != nil {
			t.Fatalf("join %q: %v", r, err)
		}
	}
}

// smallReceiveBuffer is a dialer whose sockets have a small receive buffer,
// so that a client that does not read blocks the server's writes soon.
func smallReceiveBuffer(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, network, addr)
}

func preview(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s… (%d bytes)", s[:40], len(s))
	}
	return s
}

// publish publishes a text message and fails the test on error.
func publish(t testing.TB, h *Hub, room, msg string) {
	t.Helper()
	if err := h.Publish(context.Background(), room, wsx.MessageText, []byte(msg)); err != nil {
		t.Fatalf("publish %q to %q: %v", msg, room, err)
	}
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
