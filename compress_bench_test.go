package wsx_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// The figures these print are for the README's compression section. They
// are reported, never asserted: timing and heap sizes depend on the
// machine, and -race changes both (sync.Pool drops items at random under
// the race detector). Run them without -race for figures worth quoting:
//
//	go test -run 'TestCompressionMemory$' -v .
//	go test -run '^$' -bench BenchmarkEchoCompression -benchmem .

var compModes = []wsx.CompressionMode{
	wsx.CompressionDisabled,
	wsx.CompressionNoContextTakeover,
	wsx.CompressionContextTakeover,
}

// compJSON returns n bytes of JSON-like text, different for each seed but
// alike in shape, as the messages of one application are.
func compJSON(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x150))
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	var b []byte
	b = append(b, '[')
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, `{"id":%d,"user":%q,"online":%t,"score":%d,"tags":["ws","go"]},`,
			r.IntN(100000), names[r.IntN(len(names))], r.IntN(2) == 0, r.IntN(1000))
	}
	b = b[:n]
	b[n-1] = ']'
	return b
}

// compPairs opens n connections from Dial to Accept over loopback TCP,
// both sides in mode with the default threshold, and returns them in
// pairs: servers[i] is clients[i]'s peer.
func compPairs(t testing.TB, mode wsx.CompressionMode, n int) (servers, clients []*wsx.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *wsx.Conn, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{CompressionMode: mode})
		if err != nil {
			t.Error(err)
			c = nil
		}
		accepted <- c
	})}
	go srv.Serve(ln)
	// The HTTP server is gone once the pairs are open: only the
	// connections themselves remain.
	defer srv.Close()
	url := "ws://" + ln.Addr().String() + "/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range n {
		c, resp, err := wsx.Dial(ctx, url, &wsx.DialOptions{CompressionMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		s := <-accepted
		if s == nil {
			c.CloseNow()
			t.FailNow()
		}
		servers, clients = append(servers, s), append(clients, c)
		if agreed := resp.Header.Get("Sec-WebSocket-Extensions") != ""; agreed != (mode != wsx.CompressionDisabled) {
			t.Fatalf("mode %v: extensions %q in the response", mode, resp.Header.Get("Sec-WebSocket-Extensions"))
		}
	}
	return servers, clients
}

// compExchange sends one message each way on every pair and checks that
// it arrived.
func compExchange(t testing.TB, servers, clients []*wsx.Conn, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range servers {
		for _, dir := range [][2]*wsx.Conn{{clients[i], servers[i]}, {servers[i], clients[i]}} {
			if err := dir[0].Write(ctx, wsx.MessageText, msg); err != nil {
				t.Fatal(err)
			}
			_, got, err := dir[1].Read(ctx)
			if err != nil || string(got) != string(msg) {
				t.Fatalf("read %d bytes, %v; want the %d bytes written", len(got), err, len(msg))
			}
		}
	}
}

func closeAll(cs []*wsx.Conn) {
	for _, c := range cs {
		c.CloseNow()
	}
}

// heapNow collects garbage twice, so that what sync.Pools hold is dropped
// too (the first collection moves it to the pools' victim caches, the
// second frees it), and returns the heap in use and the bytes of live
// objects.
func heapNow() (inuse, alloc uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc
}

func perConn(after, before uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

const (
	memChildEnv    = "WSX_MEM_CHILD"
	memChildPrefix = "wsx-mem-client "
)

// TestCompressionMemory prints the heap one connection holds, by
// compression mode and role, once it has received and sent one 1 KiB
// JSON-like message (enough for compression to set up whatever it keeps
// for the connection's life).
//
// Each role is measured in a process of its own: this test accepts N
// connections from a child process (TestCompressionMemoryChild) that
// dials them. Were both ends in one process, closing one role's
// connections to measure the other's would leave their freed objects
// interleaved with the kept ones, in pages the heap still counts as in
// use. Each process measures its heap before its first connection and
// once all N have exchanged their messages, after warming up on a few
// connections of its own so that package-level state set up by first use
// is not counted; the difference divided by N is one connection's share,
// including its net.TCPConn and the runtime's poller state. Every
// measurement follows two garbage collections, so buffers and compressors
// back in their pools, which idle connections share rather than hold, are
// not counted.
func TestCompressionMemory(t *testing.T) {
	if os.Getenv(memChildEnv) != "" {
		t.Skip("in the child")
	}
	n := 500
	if testing.Short() {
		n = 50
	}
	msg := compJSON(1024, 1)
	for _, mode := range compModes {
		s, c := compPairs(t, mode, 4)
		compExchange(t, s, c, msg)
		closeAll(s)
		closeAll(c)
	}
	for _, mode := range compModes {
		srvInuse, srvAlloc, cliInuse, cliAlloc := memMeasure(t, mode, n, msg)
		t.Logf("%-19v server: %7.0f B heap in use per connection (%7.0f B of live objects)", mode, srvInuse, srvAlloc)
		t.Logf("%-19v client: %7.0f B heap in use per connection (%7.0f B of live objects)", mode, cliInuse, cliAlloc)
	}
}

// memMeasure accepts n connections in mode from a child process and
// returns what one holds on each side.
func memMeasure(t *testing.T, mode wsx.CompressionMode, n int, msg []byte) (srvInuse, srvAlloc, cliInuse, cliAlloc float64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []*wsx.Conn
	)
	defer func() {
		mu.Lock()
		closeAll(conns)
		mu.Unlock()
	}()
	ready := make(chan error, n)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{CompressionMode: mode})
		if err != nil {
			ready <- err
			return
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		typ, got, err := c.Read(ctx)
		if err == nil && string(got) != string(msg) {
			err = fmt.Errorf("server read %d bytes, want the %d sent", len(got), len(msg))
		}
		if err == nil {
			err = c.Write(ctx, typ, got)
		}
		ready <- err
	})}
	go srv.Serve(ln)
	closeServer := sync.OnceFunc(func() { srv.Close() })
	defer closeServer()

	baseInuse, baseAlloc := heapNow()
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCompressionMemoryChild$")
	cmd.Env = append(os.Environ(), memChildEnv+"=1", "GORACE="+gorace,
		"WSX_MEM_URL=ws://"+ln.Addr().String()+"/", "WSX_MEM_MODE="+strconv.Itoa(int(mode)), "WSX_MEM_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd.Stderr = &stderr
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			stdout.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), memChildPrefix) {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	wait := func() {
		stdin.Close()
		err := cmd.Wait()
		pw.Close()
		for range lines {
		}
		if err != nil {
			t.Fatalf("child: %v\n%s%s", err, stdout.String(), stderr.String())
		}
	}
	for range n {
		if err := <-ready; err != nil {
			stdin.Close()
			cmd.Wait()
			pw.Close()
			t.Fatal(err)
		}
	}
	// Only the connections remain: the HTTP server is gone.
	closeServer()
	inuse, alloc := heapNow()
	line, ok := <-lines
	if !ok {
		wait()
		t.Fatal("the child reported nothing")
	}
	wait()
	var ci, ca uint64
	if _, err := fmt.Sscanf(strings.TrimPrefix(line, memChildPrefix), "inuse=%d alloc=%d", &ci, &ca); err != nil {
		t.Fatalf("child reported %q: %v", line, err)
	}
	return perConn(inuse, baseInuse, n), perConn(alloc, baseAlloc, n), float64(ci) / float64(n), float64(ca) / float64(n)
}

// TestCompressionMemoryChild is the client side of TestCompressionMemory;
// it does nothing in an ordinary run. It reports the growth of its heap
// over n connections and keeps them open until its standard input ends.
func TestCompressionMemoryChild(t *testing.T) {
	if os.Getenv(memChildEnv) == "" {
		t.Skip("run by TestCompressionMemory")
	}
	mode, _ := strconv.Atoi(os.Getenv("WSX_MEM_MODE"))
	n, _ := strconv.Atoi(os.Getenv("WSX_MEM_N"))
	msg := compJSON(1024, 1)
	s, c := compPairs(t, wsx.CompressionMode(mode), 4)
	compExchange(t, s, c, msg)
	closeAll(s)
	closeAll(c)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	baseInuse, baseAlloc := heapNow()
	conns := make([]*wsx.Conn, 0, n)
	defer func() { closeAll(conns) }()
	for range n {
		c, _, err := wsx.Dial(ctx, os.Getenv("WSX_MEM_URL"), &wsx.DialOptions{CompressionMode: wsx.CompressionMode(mode)})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if err := c.Write(ctx, wsx.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != string(msg) {
			t.Fatalf("read %d bytes, %v; want the %d bytes sent", len(got), err, len(msg))
		}
	}
	inuse, alloc := heapNow()
	fmt.Printf("%sinuse=%d alloc=%d\n", memChildPrefix, inuse-baseInuse, alloc-baseAlloc)
	io.Copy(io.Discard, os.Stdin)
}

// BenchmarkEchoCompression measures round trips of JSON-like messages
// between Dial and Accept over loopback TCP in each compression mode,
// with the default threshold and level. The messages rotate through 16
// different ones of the same shape, so that context takeover gains what
// it would from an application's similar messages, not from repeats.
// wire-B/msg is what one message costs on the wire, frame header
// included, measured on the client's side before the timed loop.
func BenchmarkEchoCompression(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		msgs := make([][]byte, 16)
		for i := range msgs {
			msgs[i] = compJSON(size, uint64(i))
		}
		for _, mode := range compModes {
			b.Run(fmt.Sprintf("json-%dKiB/%v", size>>10, mode), func(b *testing.B) {
				b.Logf("wire: %.0f bytes per message", compWireSize(b, mode, msgs))
				servers, clients := compPairs(b, mode, 1)
				s, c := servers[0], clients[0]
				done := make(chan struct{})
				go func() {
					defer close(done)
					ctx := context.Background()
					var buf []byte
					for {
						typ, p, err := s.AppendMessage(ctx, buf[:0])
						if err != nil {
							return
						}
						buf = p
						if err := s.Write(ctx, typ, p); err != nil {
							return
						}
					}
				}()
				ctx := context.Background()
				buf := make([]byte, 0, size)
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					m := msgs[i%len(msgs)]
					i++
					if err := c.Write(ctx, wsx.MessageText, m); err != nil {
						b.Fatal(err)
					}
					_, got, err := c.AppendMessage(ctx, buf[:0])
					if err != nil {
						b.Fatal(err)
					}
					if len(got) != size {
						b.Fatalf("echo of %d bytes, want %d", len(got), size)
					}
					buf = got
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
				c.CloseNow()
				s.CloseNow()
				<-done
			})
		}
	}
}

// countingConn counts the bytes written through it.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// compWireSize returns how many bytes a Dial client in mode writes per
// message, on average over msgs sent once each on a fresh connection.
func compWireSize(b *testing.B, mode wsx.CompressionMode, msgs [][]byte) float64 {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{CompressionMode: mode})
		if err != nil {
			done <- err
			return
		}
		defer c.CloseNow()
		for range msgs {
			if _, _, err := c.Read(r.Context()); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var written atomic.Int64
	ctx := context.Background()
	c, _, err := wsx.Dial(ctx, "ws://"+ln.Addr().String()+"/", &wsx.DialOptions{
		CompressionMode: mode,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{nc, &written}, nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	start := written.Load() // the handshake request
	for _, m := range msgs {
		if err := c.Write(ctx, wsx.MessageText, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return float64(written.Load()-start) / float64(len(msgs))
}
