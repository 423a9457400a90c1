package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/leak"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// testServer is a WebSocket server whose behaviour depends on the path:
//
//	/echo       echoes every message
//	/close4000  echoes one message, then closes with 4000 "bye"
//	/drop       reads one message, then drops the TCP connection
//	/hello      sends "hello" and "world", then waits
//	/flaky      echoes, but drops the first connection after one message
//
// Every connection's end (the close code the client sent, or -1) is
// reported on ends.
type testServer struct {
	*httptest.Server
	ends       chan wsx.StatusCode
	flaky      atomic.Int32  // connections to /flaky so far
	slowSecond time.Duration // how long the second /flaky handshake waits
}

func newTestServer(t *testing.T) *testServer {
	ts := &testServer{ends: make(chan wsx.StatusCode, 16)}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int32(0)
		if r.URL.Path == "/flaky" {
			n = ts.flaky.Add(1)
			if n == 2 {
				time.Sleep(ts.slowSecond)
			}
		}
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		defer func() {
			end := wsx.StatusCode(-1)
			if ce, ok := c.CloseReceived(); ok {
				end = ce.Code
			}
			ts.ends <- end
		}()
		dropAfterOne := r.URL.Path == "/drop" || n == 1
		if r.URL.Path == "/hello" {
			c.Write(ctx, wsx.MessageText, []byte("hello"))
			c.Write(ctx, wsx.MessageText, []byte("world"))
		}
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if r.URL.Path == "/hello" {
				continue
			}
			if dropAfterOne {
				if r.URL.Path == "/flaky" {
					c.Write(ctx, typ, p)
				}
				c.CloseNow()
				return
			}
			c.Write(ctx, typ, p)
			if r.URL.Path == "/close4000" {
				c.Close(4000, "bye")
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) url(path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

// connect runs "wsx connect" in this process with stdin as input.
func connect(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = run(ctx, append([]string{"connect"}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func exitStatus(err error) int {
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	return exitError
}

func TestConnectScripted(t *testing.T) {
	ts := newTestServer(t)
	rawLn := rawpeer.Listen(t)
	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantOut    string
		wantStatus int
		wantErr    string // in stderr
		serverEnd  wsx.StatusCode
	}{
		{"lines", "hello\nworld\n\n", []string{ts.url("/echo")}, "hello\nworld\n\n", exitOK, "", wsx.StatusNormalClosure},
		{"crlf", "a\r\nb\r\n", []string{ts.url("/echo")}, "a\nb\n", exitOK, "", wsx.StatusNormalClosure},
		{"execute", "ignored\n", []string{"-x", "one", "--execute", "two", ts.url("/echo")}, "one\ntwo\n", exitOK, "", wsx.StatusNormalClosure},
		{"flags after URL", "", []string{ts.url("/echo"), "-x", "one"}, "one\n", exitOK, "", wsx.StatusNormalClosure},
		{"json", "", []string{"--json", "-x", `{"a":[1,2]}`, "-x", "not json", ts.url("/echo")}, "{\n  \"a\": [\n    1,\n    2\n  ]\n}\nnot json\n", exitOK, "", wsx.StatusNormalClosure},
		{"count", "", []string{"-n", "2", ts.url("/hello")}, "hello\nworld\n", exitOK, "", wsx.StatusNormalClosure},
		{"count times out", "", []string{"-n", "3", "--wait", "300ms", ts.url("/hello")}, "hello\nworld\n", exitWaitTimedOut, "got 2 of 3 messages", wsx.StatusNormalClosure},
		{"server closes 4000", "first\nsecond\n", []string{ts.url("/close4000")}, "first\n", exitCloseCode, `closed by server: 4000 "bye"`, 4000},
		{"connection dropped", "first\n", []string{ts.url("/drop")}, "", exitAbnormal, "connection ended", -1},
		{"refused", "", []string{ts.url("/echo?x"), "-H", "Origin: https://evil.example"}, "", exitRefused, "403 Forbidden", 0},
		{"no server", "", []string{"ws://127.0.0.1:1/", "-x", "hi"}, "", exitConnect, "connection failed", 0},
		{"bad header flag", "", []string{"-H", "nocolon", ts.url("/echo")}, "", exitUsage, `want "Name: value"`, 0},
		{"no URL", "", nil, "", exitUsage, "want exactly one URL", 0},
		{"bad flag", "", []string{"--frobnicate", ts.url("/echo")}, "", exitUsage, "flag provided but not defined", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := connect(t, tt.stdin, tt.args...)
			if got := exitStatus(err); got != tt.wantStatus {
				t.Errorf("exit status %d (%v), want %d\nstderr: %s", got, err, tt.wantStatus, errOut)
			}
			if out != tt.wantOut {
				t.Errorf("stdout %q, want %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q, want it to mention %q", errOut, tt.wantErr)
			}
			if tt.serverEnd != 0 {
				select {
				case end := <-ts.ends:
					if end != tt.serverEnd {
						t.Errorf("server saw the connection end with %v, want %v", end, tt.serverEnd)
					}
				case <-time.After(5 * time.Second):
					t.Errorf("server did not see the connection end")
				}
			}
		})
	}

	t.Run("protocol error", func(t *testing.T) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			peer := rawLn.Accept(t)
			// A frame with RSV2 set, which no extension allows.
			peer.WriteRaw([]byte{0x80 | 0x20 | 0x1, 2, 'h', 'i'})
			peer.WantClose(1002)
		}()
		_, errOut, err := connect(t, "", "-n", "1", "--wait", "5s", "ws://"+rawLn.Addr()+"/")
		<-done
		if exitStatus(err) != exitProtocol {
			t.Errorf("exit status %d (%v), want %d; stderr %q", exitStatus(err), err, exitProtocol, errOut)
		}
	})

	t.Run("binary", func(t *testing.T) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			peer := rawLn.Accept(t)
			peer.WriteFrame(rawpeer.Binary([]byte{0, 1, 0xfe, 0xff}))
			peer.WriteFrame(rawpeer.Close(1000, ""))
			peer.WantClose(1000)
		}()
		for _, format := range []string{"hex", "base64"} {
			if format == "base64" {
				done = make(chan struct{})
				go func() {
					defer close(done)
					peer := rawLn.Accept(t)
					peer.WriteFrame(rawpeer.Binary([]byte{0, 1, 0xfe, 0xff}))
					peer.WriteFrame(rawpeer.Close(1000, ""))
					peer.WantClose(1000)
				}()
			}
			out, errOut, err := connect(t, "", "--binary", format, "-n", "1", "ws://"+rawLn.Addr()+"/")
			<-done
			want := map[string]string{"hex": "0001feff\n", "base64": "AAH+/w==\n"}[format]
			if err != nil || out != want {
				t.Errorf("--binary %s: stdout %q, %v (stderr %q); want %q", format, out, err, errOut, want)
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for one writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitContains polls b until it contains s.
func waitContains(t *testing.T, what string, b *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%s %q does not contain %q after 10s", what, b.String(), s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConnectReconnect checks that with --reconnect, lines typed while the
// connection is being replaced are queued and sent on the next one.
func TestConnectReconnect(t *testing.T) {
	ts := newTestServer(t)
	ts.slowSecond = 300 * time.Millisecond
	pr, pw := io.Pipe()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"connect", "--reconnect", ts.url("/flaky")}, pr, &stdout, &stderr)
	}()
	io.WriteString(pw, "one\n")
	waitContains(t, "stdout", &stdout, "one\n")
	// The server dropped the connection after echoing "one", and holds
	// the next handshake back for a while: these lines are queued.
	waitContains(t, "stderr", &stderr, "disconnected (lost")
	io.WriteString(pw, "two\nthree\n")
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("wsx connect: %v\nstderr: %s", err, stderr.String())
	}
	if got := stdout.String(); got != "one\ntwo\nthree\n" {
		t.Errorf("stdout %q, want the three lines echoed", got)
	}
	if !strings.Contains(stderr.String(), "reconnected (after lost)") {
		t.Errorf("stderr %q does not report the reconnection", stderr.String())
	}
	if n := ts.flaky.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestConnectHelp(t *testing.T) {
	var stdout strings.Builder
	if err := run(context.Background(), []string{"connect", "-h"}, strings.NewReader(""), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-H header", "-subprotocol", "-origin", "-insecure", "-ca file", "-cert file", "-key file",
		"-proxy URL", "-compression mode", "-binary format", "-json", "-ping-interval", "-reconnect", "-show-headers",
		"-x message", "-n int", "-wait", "Exit status", "4 handshake refused"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("wsx connect -h does not mention %q", want)
		}
	}
}

// TestMain runs the command itself when the test binary is started as
// "wsx" by the terminal tests, and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("WSX_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	leak.Main(m)
}

// terminal is "wsx connect" running on a pseudo-terminal.
type terminal struct {
	t   *testing.T
	cmd *exec.Cmd
	f   *os.File

	mu  sync.Mutex
	out bytes.Buffer
	new chan struct{}
}

func startTerminal(t *testing.T, env []string, args ...string) *terminal {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"connect"}, args...)...)
	cmd.Args[0] = "wsx"
	cmd.Env = append(os.Environ(), append([]string{"WSX_TEST_RUN_MAIN=1", "TERM=xterm"}, env...)...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	tm := &terminal{t: t, cmd: cmd, f: f, new: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			select {
			case tm.new <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return tm
}

func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// waitFor waits until the output matches re, and returns the output.
func (tm *terminal) waitFor(re string) string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(10 * time.Second)
	for {
		out := tm.output()
		if rx.MatchString(out) {
			return out
		}
		select {
		case <-tm.new:
		case <-deadline:
			tm.t.Fatalf("terminal output does not match %q after 10s:\n%q", re, out)
		}
	}
}

func (tm *terminal) typeKeys(s string) {
	tm.t.Helper()
	if _, err := tm.f.Write([]byte(s)); err != nil {
		tm.t.Fatal(err)
	}
}

func (tm *terminal) wait() int {
	tm.t.Helper()
	done := make(chan error, 1)
	go func() { done <- tm.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tm.t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		tm.t.Fatalf("wsx connect still running; output:\n%q", tm.output())
		return -1
	}
}

func TestConnectInteractive(t *testing.T) {
	ts := newTestServer(t)
	state := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + state}

	tm := startTerminal(t, env, "--subprotocol", "chat", ts.url("/echo"))
	tm.waitFor(`connected to ws://127\.0\.0\.1:\d+/echo: subprotocol chat`)
	tm.waitFor(`> $`)
	tm.typeKeys("hello wsx\r")
	tm.waitFor(`\x1b\[32m< hello wsx\x1b\[0m`)
	// Up arrow recalls the last line; Enter sends it again.
	tm.typeKeys("\x1b[A\r")
	out := tm.waitFor(`(?s)< hello wsx.*< hello wsx`)
	if n := strings.Count(out, "< hello wsx"); n != 2 {
		t.Errorf("echo shown %d times after recalling the line, want 2", n)
	}
	tm.typeKeys("/binary 00 01 fe ff\r")
	tm.waitFor(`< \[binary, 4 bytes\] 00 01 fe ff`)
	tm.typeKeys("/ping\r")
	tm.waitFor(`pong in `)
	tm.typeKeys("/close 4000 bye\r")
	if code := tm.wait(); code != 0 {
		t.Errorf("exit status %d after /close, want 0; output:\n%q", code, tm.output())
	}
	select {
	case end := <-ts.ends:
		if end != 4000 {
			t.Errorf("server saw close %v, want 4000", end)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server saw no close")
	}

	// The history survives: a new session recalls the last line.
	hist, err := os.ReadFile(filepath.Join(state, "wsx", "history"))
	if err != nil || !strings.Contains(string(hist), "hello wsx\n") {
		t.Fatalf("history file: %q, %v", hist, err)
	}
	tm = startTerminal(t, append(env, "NO_COLOR=1"), ts.url("/echo"))
	tm.waitFor(`> $`)
	tm.typeKeys("\x1b[A")
	tm.waitFor(`> /close 4000 bye$`)
	tm.typeKeys("\x1b[A\x1b[A\x1b[A\r") // /ping, /binary, hello wsx
	out = tm.waitFor(`< hello wsx`)
	if strings.Contains(out, "\x1b[32m") {
		t.Errorf("colours shown although NO_COLOR is set:\n%q", out)
	}
	tm.typeKeys("\x04") // Ctrl-D
	if code := tm.wait(); code != 0 {
		t.Errorf("exit status %d after Ctrl-D, want 0", code)
	}
	if end := <-ts.ends; end != wsx.StatusNormalClosure {
		t.Errorf("server saw close %v after Ctrl-D, want 1000", end)
	}
}

// TestConnectInteractiveServerClose checks that a close from the server
// ends the session with the right status while the user is typing.
func TestConnectInteractiveServerClose(t *testing.T) {
	ts := newTestServer(t)
	tm := startTerminal(t, []string{"XDG_STATE_HOME=" + t.TempDir()}, ts.url("/close4000"))
	tm.waitFor(`> $`)
	tm.typeKeys("last words\r")
	tm.waitFor(`closed by server: 4000 "bye"`)
	if code := tm.wait(); code != exitCloseCode {
		t.Errorf("exit status %d, want %d", code, exitCloseCode)
	}
	<-ts.ends
}
