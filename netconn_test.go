package wsx_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// newWSPair returns the two ends of a WebSocket connection over loopback
// TCP. Both are closed when the test ends.
func newWSPair(t *testing.T) (client, server *wsx.Conn) {
	t.Helper()
	accepted := make(chan *wsx.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := wsx.Dial(testCtx(t), wsURLOf(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		client.CloseNow()
		t.FailNow()
	}
	t.Cleanup(func() {
		client.CloseNow()
		server.CloseNow()
	})
	return client, server
}

// wantTimeout checks that err reports a passed deadline the way net.Conn
// implementations do.
func wantTimeout(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v does not wrap os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error with Timeout() true", err)
	}
}

// readResult is what a Read running in another goroutine returned.
type readResult struct {
	b   string
	err error
}

func readAsync(nc net.Conn, n int) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		b := make([]byte, n)
		k, err := nc.Read(b)
		ch <- readResult{string(b[:k]), err}
	}()
	return ch
}

func TestNetConnStream(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	cnc := wsx.NetConn(ctx, client, wsx.MessageBinary)
	snc := wsx.NetConn(ctx, server, wsx.MessageBinary)

	type result struct {
		n        int64
		copyErr  error
		closeErr error
	}
	echoed := make(chan result, 1)
	go func() {
		n, err := io.Copy(snc, snc)
		echoed <- result{n, err, snc.Close()}
	}()

	data := make([]byte, 1<<20+123)
	rand.Read(data)
	written := make(chan error, 1)
	go func() {
		// Hide bytes.Reader's WriteTo so that io.Copy writes in
		// chunks, each a message.
		_, err := io.Copy(cnc, struct{ io.Reader }{bytes.NewReader(data)})
		written <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(cnc, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-written; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the echoed stream differs from what was sent")
	}
	if err := cnc.Close(); err != nil {
		t.Fatalf("client Close: %v", err)
	}
	r := <-echoed
	if r.copyErr != nil || r.n != int64(len(data)) {
		t.Fatalf("server io.Copy = %d, %v; want %d, nil (a normal close is EOF)", r.n, r.copyErr, len(data))
	}
	if r.closeErr != nil {
		t.Fatalf("server Close after the peer closed: %v", r.closeErr)
	}
}

// TestNetConnReadSpansMessages checks that Read joins message payloads
// into one stream, whatever the buffer size.
func TestNetConnReadSpansMessages(t *testing.T) {
	for _, size := range []int{1, 2, 3, 64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			client, server := newWSPair(t)
			ctx := testCtx(t)
			go func() {
				for _, m := range []string{"ab", "cde", "", "f"} {
					server.Write(ctx, wsx.MessageBinary, []byte(m))
				}
				w, _ := server.Writer(ctx, wsx.MessageBinary)
				w.Write([]byte("gh"))
				w.Write(bytes.Repeat([]byte("i"), 10000))
				w.Close()
				server.Close(wsx.StatusNormalClosure, "")
			}()
			nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
			var got []byte
			buf := make([]byte, size)
			for {
				n, err := nc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if n == 0 {
					t.Fatal("Read returned 0, nil")
				}
			}
			if want := "abcdefgh" + strings.Repeat("i", 10000); string(got) != want {
				t.Fatalf("read %d bytes %.20q..., want %d bytes %.20q...", len(got), got, len(want), want)
			}
			if n, err := nc.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("Read after EOF = %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

// TestNetConnWriteIsMessage checks that each Write is one message of the
// adapter's type and that empty writes send nothing.
func TestNetConnWriteIsMessage(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	nc := wsx.NetConn(ctx, client, wsx.MessageText)
	for _, s := range []string{"hello", "", "wörld"} {
		n, err := nc.Write([]byte(s))
		if n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	for _, want := range []string{"hello", "wörld"} {
		typ, got, err := server.Read(ctx)
		if err != nil || typ != wsx.MessageText || string(got) != want {
			t.Fatalf("server read %v %q %v, want text %q", typ, got, err, want)
		}
	}
}

func TestNetConnPeerClose(t *testing.T) {
	tests := []struct {
		name     string
		close    func(*wsx.Conn)
		wantEOF  bool
		wantCode wsx.StatusCode
	}{
		{"normal closure", func(c *wsx.Conn) { c.Close(wsx.StatusNormalClosure, "done") }, true, -1},
		{"going away", func(c *wsx.Conn) { c.Close(wsx.StatusGoingAway, "") }, true, -1},
		{"application code", func(c *wsx.Conn) { c.Close(4000, "bye") }, false, 4000},
		{"internal error", func(c *wsx.Conn) { c.Close(wsx.StatusInternalError, "") }, false, wsx.StatusInternalError},
		{"TCP dropped", func(c *wsx.Conn) { c.CloseNow() }, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := newWSPair(t)
			ctx := testCtx(t)
			go func() {
				server.Write(ctx, wsx.MessageBinary, []byte("last"))
				tt.close(server)
			}()
			nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
			got, err := io.ReadAll(nc)
			if string(got) != "last" {
				t.Errorf("read %q before the close, want \"last\"", got)
			}
			if tt.wantEOF {
				if err != nil {
					t.Fatalf("ReadAll error %v, want EOF", err)
				}
				return
			}
			if err == nil {
				t.Fatal("a close that is not normal was reported as EOF")
			}
			if got := wsx.CloseStatus(err); got != tt.wantCode {
				t.Fatalf("CloseStatus(%v) = %v, want %v", err, got, tt.wantCode)
			}
		})
	}
}

func TestNetConnWrongType(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	nc := wsx.NetConn(ctx, client, wsx.MessageText)
	serverErr := make(chan error, 1)
	go func() {
		server.Write(ctx, wsx.MessageBinary, []byte{0xff})
		_, _, err := server.Read(ctx)
		serverErr <- err
	}()
	_, err := nc.Read(make([]byte, 10))
	if err == nil || err == io.EOF || !strings.Contains(err.Error(), "binary") {
		t.Fatalf("Read of a binary message on a text stream: %v, want an error naming it", err)
	}
	if code := wsx.CloseStatus(<-serverErr); code != wsx.StatusUnsupportedData {
		t.Fatalf("server saw close %v, want 1003", code)
	}
}

func TestNetConnReadDeadline(t *testing.T) {
	t.Run("passes while waiting", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		start := time.Now()
		nc.SetReadDeadline(start.Add(100 * time.Millisecond))
		_, err := nc.Read(make([]byte, 10))
		wantTimeout(t, err)
		if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
			t.Fatalf("Read returned after %v, want about 100ms", d)
		}
		// Nothing was read: the connection is still usable.
		_, err = nc.Read(make([]byte, 10))
		wantTimeout(t, err)
		nc.SetReadDeadline(time.Time{})
		server.Write(ctx, wsx.MessageBinary, []byte("after"))
		b := make([]byte, 10)
		n, err := nc.Read(b)
		if err != nil || string(b[:n]) != "after" {
			t.Fatalf("Read after clearing the deadline = %q, %v", b[:n], err)
		}
	})
	t.Run("already passed", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		server.Write(ctx, wsx.MessageBinary, []byte("waiting"))
		nc.SetReadDeadline(time.Now().Add(-time.Second))
		_, err := nc.Read(make([]byte, 10))
		wantTimeout(t, err)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 10)
		n, err := nc.Read(b)
		if err != nil || string(b[:n]) != "waiting" {
			t.Fatalf("Read after moving the deadline = %q, %v", b[:n], err)
		}
	})
	t.Run("extended while pending", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		first := time.Now().Add(300 * time.Millisecond)
		nc.SetReadDeadline(first)
		res := readAsync(nc, 10)
		time.Sleep(50 * time.Millisecond)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if time.Now().After(first) {
			t.Skip("the machine is too slow to move the deadline before it passed")
		}
		time.Sleep(time.Until(first) + 200*time.Millisecond)
		server.Write(ctx, wsx.MessageBinary, []byte("late"))
		if r := <-res; r.err != nil || r.b != "late" {
			t.Fatalf("pending Read = %q, %v; want \"late\" under the extended deadline", r.b, r.err)
		}
	})
	t.Run("moved into the past while pending", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		res := readAsync(nc, 10)
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		nc.SetDeadline(time.Now().Add(-time.Millisecond))
		select {
		case r := <-res:
			wantTimeout(t, r.err)
		case <-time.After(3 * time.Second):
			t.Fatalf("pending Read still blocked %v after the deadline passed", time.Since(start))
		}
		nc.SetDeadline(time.Time{})
		server.Write(ctx, wsx.MessageBinary, []byte("ok"))
		b := make([]byte, 10)
		if n, err := nc.Read(b); err != nil || string(b[:n]) != "ok" {
			t.Fatalf("Read after clearing the deadline = %q, %v", b[:n], err)
		}
	})
	t.Run("passes between reads of a message", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		w, err := server.Writer(ctx, wsx.MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		part := bytes.Repeat([]byte("p"), 20000)
		w.Write(part)
		if _, err := io.ReadFull(nc, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		// No Read is in progress when the deadline passes, so the
		// message is not cut: reading resumes where it stopped.
		nc.SetReadDeadline(time.Now().Add(-time.Millisecond))
		_, err = nc.Read(make([]byte, 10))
		wantTimeout(t, err)
		nc.SetReadDeadline(time.Time{})
		w.Write([]byte("end"))
		w.Close()
		rest := make([]byte, len(part)-100+3)
		if _, err := io.ReadFull(nc, rest); err != nil {
			t.Fatalf("reading the rest of the message: %v", err)
		}
		if want := string(part[100:]) + "end"; string(rest) != want {
			t.Fatalf("rest of the message differs")
		}
	})
	t.Run("passes mid-message", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		w, err := server.Writer(ctx, wsx.MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		// A first frame large enough to be sent at once.
		part := bytes.Repeat([]byte("p"), 20000)
		if _, err := w.Write(part); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, make([]byte, len(part))); err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = nc.Read(make([]byte, 10))
		wantTimeout(t, err)
		// The rest of the message can no longer be delivered: the
		// connection is closed.
		nc.SetReadDeadline(time.Time{})
		if _, err := nc.Read(make([]byte, 10)); !errors.Is(err, wsx.ErrClosed) {
			t.Fatalf("Read after a deadline passed mid-message: %v, want the connection closed", err)
		}
		w.Close()
	})
}

func TestNetConnWriteDeadline(t *testing.T) {
	t.Run("already passed", func(t *testing.T) {
		client, server := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		nc.SetWriteDeadline(time.Now().Add(-time.Second))
		n, err := nc.Write([]byte("dropped"))
		if n != 0 {
			t.Errorf("Write past its deadline wrote %d bytes", n)
		}
		wantTimeout(t, err)
		nc.SetWriteDeadline(time.Time{})
		if _, err := nc.Write([]byte("sent")); err != nil {
			t.Fatalf("Write after clearing the deadline: %v", err)
		}
		_, got, err := server.Read(ctx)
		if err != nil || string(got) != "sent" {
			t.Fatalf("server read %q %v, want only \"sent\"", got, err)
		}
	})
	t.Run("passes while blocked", func(t *testing.T) {
		client, _ := newWSPair(t)
		ctx := testCtx(t)
		nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
		// The server does not read: writes block once the socket
		// buffers are full.
		start := time.Now()
		nc.SetWriteDeadline(start.Add(200 * time.Millisecond))
		chunk := make([]byte, 1<<20)
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			_, err = nc.Write(chunk)
		}
		wantTimeout(t, err)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Write returned after %v", d)
		}
	})
}

// TestNetConnContext checks that the adapter's context bounds it.
func TestNetConnContext(t *testing.T) {
	client, server := newWSPair(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
	res := readAsync(nc, 10)
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case r := <-res:
		if r.err == nil || r.err == io.EOF {
			t.Fatalf("Read after the context ended = %q, %v; want an error", r.b, r.err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Read still blocked after the context ended")
	}
	if _, err := nc.Write([]byte("x")); err == nil {
		t.Fatal("Write after the context ended succeeded")
	}
	// The WebSocket connection itself was closed.
	rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer rcancel()
	if _, _, err := server.Read(rctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("server Read = %v, want the connection gone", err)
	}
}

func TestNetConnClose(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
	serverErr := make(chan error, 1)
	go func() {
		_, _, err := server.Read(ctx)
		serverErr <- err
	}()
	if err := nc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-serverErr; wsx.CloseStatus(err) != wsx.StatusNormalClosure {
		t.Fatalf("server saw %v, want close 1000", err)
	}
	if err := nc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want net.ErrClosed", err)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
	if err := nc.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close = %v, want net.ErrClosed", err)
	}
}

// TestNetConnCloseUnblocksRead checks that Close ends a pending Read, as
// closing a net.Conn does, and still completes the closing handshake.
func TestNetConnCloseUnblocksRead(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	nc := wsx.NetConn(ctx, client, wsx.MessageBinary)
	serverErr := make(chan error, 1)
	go func() {
		_, _, err := server.Read(ctx)
		serverErr <- err
	}()
	res := readAsync(nc, 10)
	time.Sleep(50 * time.Millisecond)
	if err := nc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case r := <-res:
		if r.err == nil {
			t.Fatalf("pending Read = %q, nil; want an error", r.b)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("pending Read still blocked after Close")
	}
	if err := <-serverErr; wsx.CloseStatus(err) != wsx.StatusNormalClosure {
		t.Fatalf("server saw %v, want close 1000", err)
	}
}

func TestNetConnAddrs(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	cnc := wsx.NetConn(ctx, client, wsx.MessageBinary)
	snc := wsx.NetConn(ctx, server, wsx.MessageBinary)
	if cnc.LocalAddr().String() != snc.RemoteAddr().String() || cnc.RemoteAddr().String() != snc.LocalAddr().String() {
		t.Fatalf("client %v -> %v, server %v -> %v: the ends do not match", cnc.LocalAddr(), cnc.RemoteAddr(), snc.LocalAddr(), snc.RemoteAddr())
	}
	if cnc.RemoteAddr().String() != client.RemoteAddr().String() || cnc.RemoteAddr().Network() != "tcp" {
		t.Fatalf("RemoteAddr %v, want the TCP address %v", cnc.RemoteAddr(), client.RemoteAddr())
	}
}

// TestNetConnLineProtocol runs a line-oriented protocol over the adapter,
// with lines split across and joined within writes.
func TestNetConnLineProtocol(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	serverDone := make(chan error, 1)
	go func() {
		snc := wsx.NetConn(ctx, server, wsx.MessageText)
		sc := bufio.NewScanner(snc)
		for sc.Scan() {
			if sc.Text() == "QUIT" {
				serverDone <- snc.Close()
				return
			}
			if _, err := fmt.Fprintf(snc, "%s\n", strings.ToUpper(sc.Text())); err != nil {
				serverDone <- err
				return
			}
		}
		serverDone <- fmt.Errorf("scanner stopped: %v", sc.Err())
	}()
	nc := wsx.NetConn(ctx, client, wsx.MessageText)
	br := bufio.NewReader(nc)
	for _, w := range []string{"hello\nwor", "ld\n", "a\nb\n", "", "c", "\n"} {
		if _, err := io.WriteString(nc, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"HELLO\n", "WORLD\n", "A\n", "B\n", "C\n"} {
		line, err := br.ReadString('\n')
		if err != nil || line != want {
			t.Fatalf("ReadString = %q, %v; want %q", line, err, want)
		}
	}
	io.WriteString(nc, "QUIT\n")
	if line, err := br.ReadString('\n'); line != "" || err != io.EOF {
		t.Fatalf("after QUIT: %q, %v; want EOF", line, err)
	}
	if err := <-serverDone; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := nc.Close(); err != nil {
		t.Fatalf("Close after the peer closed: %v", err)
	}
}

// TestNetConnConcurrentWrites checks that concurrent Writes go out as
// whole messages.
func TestNetConnConcurrentWrites(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	nc := wsx.NetConn(ctx, client, wsx.MessageText)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	defer func() {
		// Writers blocked after a failure end when the connection
		// closes.
		client.CloseNow()
		wg.Wait()
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := fmt.Fprintf(nc, "%d-%d-%s", w, i, strings.Repeat("x", 100*i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	for range writers * each {
		_, msg, err := server.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.SplitN(string(msg), "-", 3)
		var i int
		if len(f) == 3 {
			i, _ = strconv.Atoi(f[1])
		}
		if len(f) != 3 || len(f[2]) != 100*i || strings.Trim(f[2], "x") != "" || seen[f[0]+"-"+f[1]] {
			t.Fatalf("message %.40q of %d bytes is not one whole write", msg, len(msg))
		}
		seen[f[0]+"-"+f[1]] = true
	}
}

// TestNetConnCarriesTLS runs TLS over the adapter: TLS records cross
// message boundaries freely, so this exercises the stream semantics.
func TestNetConnCarriesTLS(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	cert, pool := newSelfSignedCert(t, "inner.test")
	done := make(chan error, 1)
	go func() {
		ts := tls.Server(wsx.NetConn(ctx, server, wsx.MessageBinary), &tls.Config{Certificates: []tls.Certificate{cert}})
		defer ts.Close()
		_, err := io.Copy(ts, io.LimitReader(ts, 100000))
		done <- err
	}()
	tc := tls.Client(wsx.NetConn(ctx, client, wsx.MessageBinary), &tls.Config{RootCAs: pool, ServerName: "inner.test"})
	defer tc.Close()
	data := make([]byte, 100000)
	rand.Read(data)
	go tc.Write(data)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(tc, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data through TLS over the adapter differs")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWriteCancelledContextKeepsConn checks the Conn behaviour the
// adapter's write deadline relies on: a Write whose context has already
// ended sends nothing and leaves the connection usable.
func TestWriteCancelledContextKeepsConn(t *testing.T) {
	client, server := newWSPair(t)
	ctx := testCtx(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []*wsx.Conn{client, server} {
		if err := c.Write(cancelled, wsx.MessageText, []byte("dropped")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Write with a cancelled context = %v, want context.Canceled", err)
		}
		if err := c.Write(ctx, wsx.MessageText, []byte("sent")); err != nil {
			t.Fatalf("Write after a cancelled one: %v", err)
		}
	}
	for _, c := range []*wsx.Conn{server, client} {
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "sent" {
			t.Fatalf("read %q %v, want only \"sent\"", msg, err)
		}
	}
}
