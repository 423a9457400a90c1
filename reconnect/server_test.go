package reconnect_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// testServer is an HTTP server that lives inside a synctest bubble:
// clients reach it through DialOptions.NetDialContext, which hands one end
// of a net.Pipe to the server's listener, so that no real socket is
// involved and time is the bubble's fake time. net.Pipe is synchronous: a
// write returns only once the other side has read all of it.
type testServer struct {
	ln       *pipeListener
	srv      *http.Server
	ctx      context.Context // ends when the server is closed
	cancel   context.CancelFunc
	requests atomic.Int64
	handlers sync.WaitGroup
}

// rawConnKey holds the server side of the pipe in a request's context.
type rawConnKey struct{}

// newTestServer starts a server that runs h for every request, with n
// counting the requests from 1.
func newTestServer(h func(n int, w http.ResponseWriter, r *http.Request)) *testServer {
	s := &testServer{ln: &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.handlers.Add(1)
			defer s.handlers.Done()
			h(int(s.requests.Add(1)), w, r)
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, rawConnKey{}, c)
		},
	}
	go s.srv.Serve(s.ln)
	return s
}

// dial is the client's NetDialContext.
func (s *testServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case s.ln.conns <- server:
		return client, nil
	case <-s.ln.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dialOptions returns options that reach the server whatever the URL's
// host, ignoring proxy settings from the environment.
func (s *testServer) dialOptions() *wsx.DialOptions {
	return &wsx.DialOptions{
		NetDialContext: s.dial,
		Proxy:          func(*http.Request) (*url.URL, error) { return nil, nil },
	}
}

// accept upgrades the request and arranges for the connection to be closed
// when the server closes.
func (s *testServer) accept(t *testing.T, w http.ResponseWriter, r *http.Request) *wsx.Conn {
	t.Helper()
	c, err := wsx.Accept(w, r, nil)
	if err != nil {
		t.Errorf("accept: %v", err)
		return nil
	}
	context.AfterFunc(s.ctx, func() { c.CloseNow() })
	return c
}

// readAll reads messages until the connection ends, appending their text
// to *got under mu, and returns the read error.
func readAll(c *wsx.Conn, mu *sync.Mutex, got *[]string) error {
	for {
		_, p, err := c.Read(context.Background())
		if err != nil {
			return err
		}
		mu.Lock()
		*got = append(*got, string(p))
		mu.Unlock()
	}
}

// Close stops the server and waits for its handlers, whose connections it
// closes.
func (s *testServer) Close() {
	s.cancel()
	s.srv.Close()
	s.handlers.Wait()
}

// pipeListener is a net.Listener fed with pipe ends by testServer.dial.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// stamped is an event and the bubble time at which it was reported.
type stamped struct {
	reconnect.Event
	At time.Duration // since the recorder was made
}

// recorder collects a Client's events for a test to take one by one.
type recorder struct {
	start  time.Time
	mu     sync.Mutex
	events []stamped
	next   int
	signal chan struct{}
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), signal: make(chan struct{}, 1)}
}

// on is the Client's OnEvent.
func (r *recorder) on(ev reconnect.Event) {
	r.mu.Lock()
	r.events = append(r.events, stamped{ev, time.Since(r.start)})
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// take returns the next event, failing the test if none comes within an
// hour of fake time.
func (r *recorder) take(t *testing.T) stamped {
	t.Helper()
	timeout := time.After(time.Hour)
	for {
		r.mu.Lock()
		if r.next < len(r.events) {
			ev := r.events[r.next]
			r.next++
			r.mu.Unlock()
			return ev
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-timeout:
			t.Fatalf("no event within an hour")
		}
	}
}

// pending returns the events not taken yet.
func (r *recorder) pending() []stamped {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stamped(nil), r.events[r.next:]...)
}

// all returns every event so far.
func (r *recorder) all() []stamped {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stamped(nil), r.events...)
}

// want checks the next event against w: Type, Reason and Attempt always,
// the other fields when set in w.
func (r *recorder) want(t *testing.T, w reconnect.Event) stamped {
	t.Helper()
	ev := r.take(t)
	if ev.Type != w.Type || ev.Reason != w.Reason || ev.Attempt != w.Attempt {
		t.Fatalf("event %v %v attempt %d (err %v), want %v %v attempt %d", ev.Type, ev.Reason, ev.Attempt, ev.Err, w.Type, w.Reason, w.Attempt)
	}
	if w.Code != 0 && (ev.Code != w.Code || ev.CloseReason != w.CloseReason) {
		t.Errorf("%v %v: close %v %q, want %v %q", ev.Type, ev.Reason, ev.Code, ev.CloseReason, w.Code, w.CloseReason)
	}
	if w.RetryIn != 0 && ev.RetryIn != w.RetryIn {
		t.Errorf("%v %v: RetryIn %v, want %v", ev.Type, ev.Reason, ev.RetryIn, w.RetryIn)
	}
	return ev
}
