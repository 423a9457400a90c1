package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wsx-go/wsx"
)

// benchServer is an echo server for the bench tests. On /corrupt it flips
// one byte of the fifth message it echoes. It counts the messages it
// echoed and remembers the address of every connection.
type benchServer struct {
	*httptest.Server
	echoed atomic.Int64
	mu     sync.Mutex
	peers  []string
	wg     sync.WaitGroup
}

func newBenchServer(t *testing.T) *benchServer {
	s := &benchServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{CompressionMode: wsx.CompressionContextTakeover})
		if err != nil {
			return
		}
		s.wg.Add(1)
		defer s.wg.Done()
		defer c.CloseNow()
		s.mu.Lock()
		s.peers = append(s.peers, r.RemoteAddr)
		s.mu.Unlock()
		ctx := context.Background()
		var buf []byte
		for n := 1; ; n++ {
			typ, p, err := c.AppendMessage(ctx, buf[:0])
			if err != nil {
				return
			}
			buf = p
			if r.URL.Path == "/corrupt" && n == 5 {
				p[len(p)/2] ^= 0x20
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
			s.echoed.Add(1)
		}
	}))
	t.Cleanup(func() {
		s.Close()
		s.wg.Wait()
	})
	return s
}

func (s *benchServer) url(path string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

// runBenchCmd runs "wsx bench" in-process and returns its exit status
// (0, or that of the exitCode error), stdout and stderr.
func runBenchCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"bench"}, args...), strings.NewReader(""), &stdout, &stderr)
	code := 0
	if err != nil {
		var ec exitCode
		if !errors.As(err, &ec) {
			t.Fatalf("wsx bench %v: %v", args, err)
		}
		code = int(ec)
	}
	return code, stdout.String(), stderr.String()
}

func decodeJSON[T any](t *testing.T, line string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, line)
	}
	return v
}

func TestBenchEcho(t *testing.T) {
	s := newBenchServer(t)
	tests := []struct {
		name    string
		args    []string
		typ     string
		size    int64
		maxRate float64
	}{
		{"binary 1KiB", []string{"-s", "1KiB"}, "binary", 1024, 0},
		{"text 16 bytes, 4 in flight", []string{"-s", "16", "--text", "-p", "4"}, "text", 16, 0},
		{"shorter than its number", []string{"-s", "3", "--binary"}, "binary", 3, 0},
		{"64KiB compressed", []string{"--size", "64KiB", "--text", "--compression", "on"}, "text", 64 << 10, 0},
		{"context takeover", []string{"-s", "1000", "--text", "--compression", "context-takeover", "-p", "3"}, "text", 1000, 0},
		{"rate", []string{"-s", "100", "--rate", "200", "-c", "2"}, "binary", 100, 260},
		{"source addresses", []string{"-s", "100", "--source-addrs", "127.0.0.1-127.0.0.3"}, "binary", 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.echoed.Load()
			args := append([]string{"echo", "-c", "3", "-d", "400ms", "--warmup", "100ms", "--json"}, tc.args...)
			code, stdout, stderr := runBenchCmd(t, context.Background(), append(args, s.url("/echo"))...)
			if code != 0 {
				t.Fatalf("exit status %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			res := decodeJSON[echoResult](t, stdout)
			if res.Mode != "echo" || res.Type != tc.typ || res.Size != tc.size || res.Errors != 0 || res.VerifyErrors != 0 {
				t.Errorf("result %+v, want mode echo, type %s, size %d and no errors", res, tc.typ, tc.size)
			}
			if res.Messages < 1 || res.Latency.Count != res.Messages || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
				t.Errorf("implausible counts or latency: %+v", res)
			}
			if echoed := s.echoed.Load() - before; res.Messages > echoed {
				t.Errorf("reported %d messages, the server echoed %d", res.Messages, echoed)
			}
			if d := res.DurationS; d < 0.35 || d > 0.6 {
				t.Errorf("measured for %.2fs, want 0.4s", d)
			}
			if tc.maxRate > 0 && (res.MsgsPerS > tc.maxRate || res.Rate != 200) {
				t.Errorf("%.0f msgs/s (rate %v), want at most %v", res.MsgsPerS, res.Rate, tc.maxRate)
			}
			if !strings.Contains(stderr, "wsx bench: measuring for 400ms\n") || !strings.Contains(stderr, "wsx bench: measuring over\n") {
				t.Errorf("stderr lacks the measuring lines: %q", stderr)
			}
		})
	}
}

func TestBenchEchoSummary(t *testing.T) {
	s := newBenchServer(t)
	code, stdout, stderr := runBenchCmd(t, context.Background(), "echo", "-c", "2", "-s", "64", "-d", "300ms", "--warmup", "0s", s.url("/"))
	if code != 0 {
		t.Fatalf("exit status %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"echo ws://127.0.0.1:", ": 2 connections, 64 binary messages, 1 in flight each, compression off\n",
		"  measured   0.3s after 0s warm-up\n", " echoed and checked, ", "  throughput ", " MB/s each way\n",
		"  latency    p50 ", " p90 ", " p99 ", " p99.9 ", " max ", "  errors     0 connection, 0 mismatched echoes\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
}

func TestBenchEchoCorruption(t *testing.T) {
	s := newBenchServer(t)
	code, stdout, stderr := runBenchCmd(t, context.Background(), "echo", "-c", "1", "-s", "100", "-d", "300ms", "--warmup", "0s", "--json", s.url("/corrupt"))
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := "connection 0: echo of message 4 differs at byte 50: sent 0x"
	if !strings.Contains(stderr, "wsx bench: "+want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}
	res := decodeJSON[echoResult](t, stdout)
	if res.VerifyErrors != 1 || !strings.HasPrefix(res.FirstError, want) {
		t.Errorf("verify_errors %d, first_error %q; want 1 and %q", res.VerifyErrors, res.FirstError, want)
	}
}

func TestBenchConnect(t *testing.T) {
	s := newBenchServer(t)
	code, stdout, stderr := runBenchCmd(t, context.Background(), "connect", "-c", "3", "-d", "400ms", "--warmup", "100ms", "--json", s.url("/"))
	if code != 0 {
		t.Fatalf("exit status %d\n%s%s", code, stdout, stderr)
	}
	res := decodeJSON[connectResult](t, stdout)
	if res.Mode != "connect" || res.Conns != 3 || res.Handshakes < 3 || res.Errors != 0 || res.Latency.Count != res.Handshakes {
		t.Errorf("result %+v, want some handshakes and no errors", res)
	}
	if got, want := res.HandshakesPerS, float64(res.Handshakes)/res.DurationS; got < want*0.99 || got > want*1.01 {
		t.Errorf("%.0f handshakes/s, want %.0f", got, want)
	}
}

func TestBenchIdle(t *testing.T) {
	s := newBenchServer(t)
	code, stdout, stderr := runBenchCmd(t, context.Background(), "idle", "-c", "30", "--hold", "200ms", "--dial-concurrency", "7",
		"--source-addrs", "127.0.0.1-127.0.0.3", "--json", s.url("/"))
	if code != 0 {
		t.Fatalf("exit status %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two JSON lines, got:\n%s", stdout)
	}
	open := decodeJSON[idleOpenEvent](t, lines[0])
	if open.Event != "open" || open.Open != 30 || open.Failed != 0 {
		t.Errorf("first line %+v, want 30 open", open)
	}
	res := decodeJSON[idleResult](t, lines[1])
	if res.Open != 30 || res.ClosedClean != 30 || res.Errors != 0 || res.HeldS < 0.2 || res.Latency.Count != 30 {
		t.Errorf("result %+v, want 30 opened, held 0.2s and closed cleanly", res)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hosts := map[string]int{}
	for _, p := range s.peers {
		host, _, _ := net.SplitHostPort(p)
		hosts[host]++
	}
	if len(hosts) != 3 || hosts["127.0.0.1"] != 10 || hosts["127.0.0.3"] != 10 {
		t.Errorf("connections came from %v, want 10 from each of 127.0.0.1-3", hosts)
	}
}

func TestBenchIdleUntilInterrupted(t *testing.T) {
	s := newBenchServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"bench", "idle", "-c", "5", s.url("/")}, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "idle: 5 connections open, 0 failed, in ") {
		cancel()
		t.Fatalf("first line %q (%v), want \"idle: 5 connections open…\"", line, err)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	rest, _ := io.ReadAll(br)
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if !strings.Contains(string(rest), "  closed     5 cleanly\n") {
		t.Errorf("summary after the interrupt:\n%s", rest)
	}
}

func TestBenchProgressOnTerminal(t *testing.T) {
	s := newBenchServer(t)
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, ptm)
		close(copied)
	}()
	var stdout bytes.Buffer
	err = run(context.Background(), []string{"bench", "echo", "-c", "2", "-d", "1200ms", "--warmup", "1500ms", s.url("/")}, strings.NewReader(""), &stdout, tty)
	tty.Close()
	<-copied
	if err != nil {
		t.Fatal(err)
	}
	progress := out.String()
	for _, want := range []string{"\r\x1b[K   1s  ", " msgs/s  warm-up", "\r\x1b[K   2s  ", " msgs/s  p99 "} {
		if !strings.Contains(progress, want) {
			t.Errorf("terminal output lacks %q: %q", want, progress)
		}
	}
	if !strings.HasSuffix(progress, "\r\x1b[K") || strings.Contains(progress, "wsx bench: measuring") {
		t.Errorf("the progress line is not cleared at the end, or markers went to the terminal: %q", progress)
	}
	if !strings.Contains(stdout.String(), "messages ") {
		t.Errorf("no summary on stdout: %q", stdout.String())
	}
}

// rawEchoServer is a plain TCP echo behind a minimal handshake response,
// like the baseline server of bench/.
func rawEchoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
					base64.StdEncoding.EncodeToString(h[:])+"\r\n\r\n")
				io.Copy(nc, br)
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func TestBenchMaskedEcho(t *testing.T) {
	url := rawEchoServer(t)
	for _, size := range []string{"16", "200", "70000"} {
		t.Run(size, func(t *testing.T) {
			code, stdout, stderr := runBenchCmd(t, context.Background(), "echo", "--masked-echo", "-c", "2", "-p", "3", "-s", size,
				"-d", "300ms", "--warmup", "0s", "--json", url)
			if code != 0 {
				t.Fatalf("exit status %d\n%s%s", code, stdout, stderr)
			}
			if res := decodeJSON[echoResult](t, stdout); res.Messages < 1 || res.VerifyErrors != 0 {
				t.Errorf("result %+v", res)
			}
		})
	}
	t.Run("connect", func(t *testing.T) {
		code, stdout, stderr := runBenchCmd(t, context.Background(), "connect", "--masked-echo", "-c", "2", "-d", "200ms", "--warmup", "0s", "--json", url)
		if res := decodeJSON[connectResult](t, stdout); code != 0 || res.Handshakes < 1 {
			t.Errorf("exit status %d, %+v\n%s", code, res, stderr)
		}
	})
	t.Run("without the flag", func(t *testing.T) {
		code, _, stderr := runBenchCmd(t, context.Background(), "echo", "-c", "1", "-d", "200ms", "--warmup", "0s", url)
		if code != 1 || !strings.Contains(stderr, "connection 0: read: ") {
			t.Errorf("exit status %d (want 1), stderr %q", code, stderr)
		}
	})
}

// TestBenchMaskedEchoConvert feeds a recorded echo through the conversion
// in pieces of every size and checks that the frames come out unmasked.
func TestBenchMaskedEchoConvert(t *testing.T) {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	masked := func(op byte, payload []byte) (wire, plain []byte) {
		var hdr []byte
		switch n := len(payload); {
		case n <= 125:
			hdr = []byte{0x80 | op, byte(n)}
		case n <= 0xFFFF:
			hdr = []byte{0x80 | op, 126, byte(n >> 8), byte(n)}
		default:
			hdr = []byte{0x80 | op, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		}
		plain = append(append([]byte{}, hdr...), payload...)
		hdr[1] |= 0x80
		wire = append(append(hdr, key[:]...), payload...)
		p := wire[len(hdr)+4:]
		unmaskMove(p, p, key, 0)
		return wire, plain
	}
	response := "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n\r\n"
	wire, want := []byte(response), []byte(response)
	for _, n := range []int{0, 5, 125, 126, 1000, 65535, 65536, 70001} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		w, pl := masked(0x2, p)
		wire, want = append(wire, w...), append(want, pl...)
	}
	w, pl := masked(0x8, []byte{0x03, 0xe8})
	wire, want = append(wire, w...), append(want, pl...)
	for _, tc := range []struct{ piece, readSize int }{{1, 4096}, {2, 4096}, {3, 4096}, {7, 4096}, {13, 4096}, {64 << 10, 4096}, {64 << 10, 1}, {5, 3}} {
		piece := tc.piece
		a, b := net.Pipe()
		go func() {
			for rest := wire; len(rest) > 0; {
				k := min(piece, len(rest))
				if _, err := a.Write(rest[:k]); err != nil {
					return
				}
				rest = rest[k:]
			}
			a.Close()
		}()
		m := newMaskedEchoConn(b)
		var got []byte
		buf := make([]byte, tc.readSize)
		for {
			n, err := m.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("written in pieces of %d bytes, read %d at a time: converted stream differs from the unmasked frames (%d bytes, want %d)",
				piece, tc.readSize, len(got), len(want))
		}
	}
}

func TestBenchPayloads(t *testing.T) {
	for _, size := range []int{1, 15, 16, 17, 1000, 70000} {
		for _, text := range []bool{false, true} {
			p := newPayloads(size, text)
			buf := make([]byte, size)
			for _, seq := range []uint64{0, 1, 250, 251, 1 << 40} {
				p.fill(buf, seq)
				if ok, why := p.check(buf, seq); !ok {
					t.Errorf("size %d, text %v: message %d does not check: %s", size, text, seq, why)
				}
				if ok, _ := p.check(buf, seq+1); ok && size > 1 {
					t.Errorf("size %d: message %d passes as message %d", size, seq, seq+1)
				}
				if text && !utf8Valid(buf) {
					t.Errorf("size %d: text message %d is not UTF-8", size, seq)
				}
				buf[size-1] ^= 1
				if ok, why := p.check(buf, seq); ok || !strings.Contains(why, "differs at byte") {
					t.Errorf("size %d: corrupted message %d: %v %q", size, seq, ok, why)
				}
				if ok, why := p.check(buf[:size-1], seq); ok || !strings.Contains(why, "bytes long") {
					t.Errorf("size %d: short message %d: %v %q", size, seq, ok, why)
				}
			}
		}
	}
}

func utf8Valid(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func TestBenchSourceAddrs(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"127.0.0.1-127.0.0.3", "127.0.0.1,127.0.0.2,127.0.0.3", ""},
		{"127.0.0.1, 127.0.0.9", "127.0.0.1,127.0.0.9", ""},
		{"127.0.0.254-127.0.1.1", "127.0.0.254,127.0.0.255,127.0.1.0,127.0.1.1", ""},
		{"::1", "::1", ""},
		{"127.0.0.3-127.0.0.1", "", "not a range"},
		{"127.0.0.1-::1", "", "not a range"},
		{"localhost", "", "not an IP address"},
		{"10.0.0.0-10.1.0.0", "", "more than 4096"},
		{",", "", "no addresses"},
	}
	for _, tc := range tests {
		var s sourceAddrs
		err := s.Set(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, s.String(), err, tc.want)
		}
		if _, err := netip.ParseAddr(s[0].String()); err != nil {
			t.Error(err)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "want a mode: echo, connect or idle"},
		{[]string{"flood", "ws://127.0.0.1:1/"}, `unknown mode "flood"`},
		{[]string{"echo"}, "want exactly one URL"},
		{[]string{"echo", "ftp://127.0.0.1/"}, "want ws:// or wss://"},
		{[]string{"echo", "-c", "-1", "ws://127.0.0.1:1/"}, "-c must be at least 1"},
		{[]string{"echo", "-s", "0", "ws://127.0.0.1:1/"}, "-s must be at least 1 byte"},
		{[]string{"echo", "-p", "0", "ws://127.0.0.1:1/"}, "-p must be at least 1"},
		{[]string{"echo", "--text", "--binary", "ws://127.0.0.1:1/"}, "exclude each other"},
		{[]string{"echo", "-s", "lots", "ws://127.0.0.1:1/"}, "want a size such as"},
		{[]string{"idle", "--source-addrs", "nowhere", "ws://127.0.0.1:1/"}, "not an IP address"},
		{[]string{"connect", "--compression", "max", "ws://127.0.0.1:1/"}, "want off, on or context-takeover"},
	}
	for _, tc := range tests {
		code, _, stderr := runBenchCmd(t, context.Background(), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("wsx bench %v: exit status %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	code, stdout, _ := runBenchCmd(t, context.Background(), "-h")
	for _, want := range []string{"Usage: wsx bench echo|connect|idle [flags] URL", "-c, --conns n", "--source-addrs addresses", "--masked-echo"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("wsx bench -h (exit status %d) lacks %q", code, want)
		}
	}
}

func TestBenchUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	for _, mode := range []string{"echo", "connect", "idle"} {
		code, _, stderr := runBenchCmd(t, context.Background(), mode, "-c", "2", "-d", "200ms", "--warmup", "0s", "--hold", "1ms", url)
		if code != 1 || !strings.Contains(stderr, "connection refused") {
			t.Errorf("%s: exit status %d, stderr %q; want 1 and connection refused", mode, code, stderr)
		}
	}
}
