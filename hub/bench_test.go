package hub

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsx-go/wsx"
)

// BenchmarkFanout publishes to one room and measures deliveries per second
// (messages written to members and read by their clients) and the bytes
// and allocations per delivery, for 1,000 and 10,000 members, on one node
// and split over two nodes joined by an embedded NATS server (publishing
// on the first), with and without compression (permessage-deflate without
// context takeover, so one compressed frame serves every member).
//
// The 1,000 members use loopback TCP connections. The 10,000 use in-memory
// connections (net.Pipe), since 10,000 sockets at both ends would exceed
// the process's file limit of 20,000. The clients run in the same process
// and read every message (with AppendMessage, which allocates nothing), so
// the figures include their work, and the NATS server's. A publisher
// sends 64 messages and waits until every member read them, then the
// next 64: queues never overflow.
func BenchmarkFanout(b *testing.B) {
	msg := []byte(`{"type":"message","room":"bench","from":"ann","text":"` +
		strings.Repeat("the quick brown fox jumps over the lazy dog ", 5) +
		`","id":123456,"node":"3f2a9c1b","time":"2026-01-02T15:04:05.000Z"}`)
	for _, members := range []int{1000, 10000} {
		for _, nodes := range []int{1, 2} {
			for _, compress := range []bool{false, true} {
				name := fmt.Sprintf("members=%d/nodes=%d/compression=%v", members, nodes, compress)
				env := newFanoutEnv(b, members, nodes, compress)
				b.Run(name, func(b *testing.B) { env.run(b, msg) })
				env.close()
			}
		}
	}
}

// fanoutEnv is a set of nodes with members in room "bench".
type fanoutEnv struct {
	hubs     []*Hub
	closers  []func()
	members  int
	received atomic.Int64
	target   atomic.Int64
	reached  chan struct{}
	clients  []*wsx.Conn
	readers  sync.WaitGroup
}

func newFanoutEnv(b *testing.B, members, nodes int, compress bool) *fanoutEnv {
	e := &fanoutEnv{members: members, reached: make(chan struct{}, 1)}
	mode := wsx.CompressionDisabled
	if compress {
		mode = wsx.CompressionNoContextTakeover
	}
	var natsURL string
	if nodes > 1 {
		s := startNATS(b, -1)
		natsURL = s.ClientURL()
	}
	pipes := members > 1000
	dials := make([]func(ctx context.Context) (*wsx.Conn, error), nodes)
	for k := range nodes {
		opts := &Options{}
		if natsURL != "" {
			nc, err := nats.Connect(natsURL)
			if err != nil {
				b.Fatal(err)
			}
			br, err := NewNATSBroker(nc, nil)
			if err != nil {
				b.Fatal(err)
			}
			opts.Broker = br
			e.closers = append(e.closers, nc.Close)
		}
		h := New(opts)
		e.hubs = append(e.hubs, h)
		var handlers sync.WaitGroup
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handlers.Add(1)
			defer handlers.Done()
			c, err := wsx.Accept(w, r, &wsx.AcceptOptions{CompressionMode: mode})
			if err != nil {
				return
			}
			defer c.CloseNow()
			m := h.Add(c)
			defer m.Close()
			if err := m.Join(context.Background(), "bench"); err != nil {
				return
			}
			c.Write(context.Background(), wsx.MessageText, []byte("joined"))
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		})}
		dopts := &wsx.DialOptions{CompressionMode: mode, Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
		var ln net.Listener
		if pipes {
			pl := &benchPipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
			ln = pl
			dopts.NetDialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				client, server := net.Pipe()
				select {
				case pl.conns <- server:
					return client, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		} else {
			var err error
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
		}
		go srv.Serve(ln)
		u := "ws://" + ln.Addr().String() + "/"
		if pipes {
			u = "ws://pipe/"
		}
		dials[k] = func(ctx context.Context) (*wsx.Conn, error) {
			c, _, err := wsx.Dial(ctx, u, dopts)
			return c, err
		}
		e.closers = append(e.closers, func() {
			srv.Close()
			h.Close()
			handlers.Wait()
		})
	}

	// Connect the members, spread over the nodes, 64 at a time.
	e.clients = make([]*wsx.Conn, members)
	var wg sync.WaitGroup
	next := make(chan int)
	var failed atomic.Value
	for range 64 {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := dials[i%nodes](ctx)
				if err == nil {
					_, _, err = c.Read(ctx) // "joined"
				}
				cancel()
				if err != nil {
					failed.Store(err)
					continue
				}
				e.clients[i] = c
				e.readers.Go(func() { e.read(c) })
			}
		})
	}
	for i := range members {
		next <- i
	}
	close(next)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		e.close()
		b.Fatal(err)
	}
	return e
}

// read counts the messages a client receives.
func (e *fanoutEnv) read(c *wsx.Conn) {
	var buf []byte
	for {
		_, p, err := c.AppendMessage(context.Background(), buf[:0])
		if err != nil {
			return
		}
		buf = p
		if e.received.Add(1) == e.target.Load() {
			e.reached <- struct{}{}
		}
	}
}

// run publishes b.N messages on the first node in windows of 64.
func (e *fanoutEnv) run(b *testing.B, msg []byte) {
	const window = 64
	ctx := context.Background()
	e.received.Store(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(window, b.N-sent)
		e.target.Store(int64(sent+n) * int64(e.members))
		for range n {
			if err := e.hubs[0].Publish(ctx, "bench", wsx.MessageText, msg); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
		select {
		case <-e.reached:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d deliveries after 30s", e.received.Load(), e.target.Load())
		}
	}
	took := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	deliveries := float64(b.N) * float64(e.members)
	b.ReportMetric(deliveries/took.Seconds(), "deliveries/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/deliveries, "B/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
}

func (e *fanoutEnv) close() {
	for _, c := range e.clients {
		if c != nil {
			c.CloseNow()
		}
	}
	e.readers.Wait()
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// benchPipeListener hands the server ends of net.Pipe connections to an
// HTTP server.
type benchPipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *benchPipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *benchPipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *benchPipeListener) Addr() net.Addr { return benchPipeAddr{} }

type benchPipeAddr struct{}

func (benchPipeAddr) Network() string { return "pipe" }
func (benchPipeAddr) String() string  { return "pipe" }
