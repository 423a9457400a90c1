//go:build linux

package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	installHint = "run ./scripts/test to install peers"

	// systemPython is Debian's interpreter, the one python3-websockets
	// installs into; another python3 may come first on PATH.
	systemPython = "/usr/bin/python3"
	chromiumPath = "/usr/bin/chromium"
	lwsClient    = "libwebsockets-test-client"

	// callTimeout bounds how long a peer may take to answer a command
	// beyond the timeout the command itself carries.
	callTimeout = 10 * time.Second
)

var (
	nodeDir   = filepath.Join("testdata", "node")
	pythonDir = filepath.Join("testdata", "python")
)

func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed: %s", installHint)
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "ws", "package.json")); err != nil {
		t.Fatalf("npm package ws is not installed in %s: %s", nodeDir, installHint)
	}
}

func needChromium(t *testing.T) {
	t.Helper()
	needNode(t)
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("npm package playwright-core is not installed in %s: %s", nodeDir, installHint)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: %s", chromiumPath, installHint)
	}
}

func needPython(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(systemPython, "-c", "import websockets").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import websockets (%v: %s): %s", systemPython, err, bytes.TrimSpace(out), installHint)
	}
}

func needLWS(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(lwsClient); err != nil {
		t.Fatalf("%s is not installed: %s", lwsClient, installHint)
	}
}

// request is one command to a peer script; see testdata/node/peer.mjs.
type request struct {
	Op        string   `json:"op"`
	URL       string   `json:"url,omitempty"`
	Type      string   `json:"type,omitempty"`
	Parts     [][]byte `json:"parts,omitempty"`
	Data      []byte   `json:"data,omitempty"`
	Code      int      `json:"code,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	TimeoutMS int      `json:"timeout_ms,omitempty"`
	// Compress asks a ws peer to compress the message it sends, when
	// permessage-deflate was agreed; Python's websockets and browsers
	// compress every message then anyway.
	Compress bool `json:"compress,omitempty"`
	// Deflate is a ws client's perMessageDeflate option for "connect":
	// false, or an object of options; absent means true.
	Deflate any `json:"deflate,omitempty"`
}

// reply is a peer's answer to one command. Closed replies carry the close
// code and reason the peer received; 1005 means a close frame without a
// code, 1006 no close frame at all.
type reply struct {
	OK         bool     `json:"ok"`
	Error      string   `json:"error"`
	Port       int      `json:"port"`
	Status     int      `json:"status"`
	Path       string   `json:"path"`
	Extensions string   `json:"extensions"` // the Sec-WebSocket-Extensions response header
	Offer      string   `json:"offer"`      // a server's view of the client's offer
	Protocol   string   `json:"protocol"`
	Type       string   `json:"type"`
	Data       []byte   `json:"data"`
	Closed     bool     `json:"closed"`
	Code       int      `json:"code"`
	Reason     string   `json:"reason"`
	Pong       []byte   `json:"pong"`
	Pings      [][]byte `json:"pings"`
	Errors     []string `json:"errors"`
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// process is a child process in its own process group, so that ending it
// also ends whatever it started (Chromium's renderers, for one).
type process struct {
	name   string
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{} // closed once the process has been waited for
	err    error         // the exit status, set before done is closed
}

func newProcess(name, dir string, argv ...string) *process {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild that keeps the output pipes open must not keep Wait
	// waiting.
	cmd.WaitDelay = 5 * time.Second
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	return p
}

// killGroup ends the process and everything in its group.
func (p *process) killGroup() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// waitOrKill waits up to d for the process to exit by itself, then kills
// its group. It reports whether the process exited in time.
func (p *process) waitOrKill(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	inTime := true
	select {
	case <-p.done:
	case <-timer.C:
		inTime = false
		p.killGroup()
		<-p.done
	}
	// Whatever the process left running in its group goes too.
	p.killGroup()
	return inTime
}

// peer is a running peer script that answers one JSON line per command.
type peer struct {
	*process
	stdin io.WriteCloser
	lines chan []byte // stdout lines; closed at EOF
}

// startPeer starts a peer script in dir and ends it when the test ends:
// closing its stdin asks it to exit, and it is killed if it does not.
func startPeer(t *testing.T, name, dir string, argv ...string) *peer {
	t.Helper()
	p := &peer{process: newProcess(name, dir, argv...), lines: make(chan []byte, 16)}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		br := bufio.NewReader(stdout)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				p.lines <- line
			}
			if err != nil {
				break
			}
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		// Drain what the peer still prints so that it can exit.
		timer := time.NewTimer(15 * time.Second)
		defer timer.Stop()
		for lines := p.lines; lines != nil; {
			select {
			case _, ok := <-lines:
				if !ok {
					lines = nil
				}
			case <-timer.C:
				p.killGroup()
				timer.Reset(time.Hour)
			}
		}
		p.waitOrKill(5 * time.Second)
	})
	return p
}

// send writes a command without waiting for the answer, so that the
// test can act while the peer waits (for a connection, say).
func (p *peer) send(t *testing.T, req request) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("%s: send %s: %v\nstderr:\n%s", p.name, req.Op, err, p.stderr.String())
	}
}

// next waits up to d for the peer's next answer; an {"error": ...}
// answer ends the test.
func (p *peer) next(t *testing.T, what string, d time.Duration) reply {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("%s: %s: peer exited without answering\nstderr:\n%s", p.name, what, p.stderr.String())
		}
		var r reply
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %s: bad answer %.200q: %v", p.name, what, line, err)
		}
		if r.Error != "" || !r.OK {
			t.Fatalf("%s: %s failed: %s\nstderr:\n%s", p.name, what, r.Error, p.stderr.String())
		}
		return r
	case <-timer.C:
		t.Fatalf("%s: %s: no answer within %v\nstderr:\n%s", p.name, what, d, p.stderr.String())
	}
	panic("unreachable")
}

// call sends a command and waits for its answer.
func (p *peer) call(t *testing.T, req request) reply {
	t.Helper()
	p.send(t, req)
	return p.next(t, req.Op, replyTimeout(req))
}

func replyTimeout(req request) time.Duration {
	d := 10 * time.Second
	if req.TimeoutMS > 0 {
		d = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	return d + callTimeout
}

// wantMessage receives the next message and checks its type and content.
func (p *peer) wantMessage(t *testing.T, typ string, want []byte) {
	t.Helper()
	r := p.call(t, request{Op: "recv"})
	if r.Closed {
		t.Fatalf("%s: connection closed (code %d %q) instead of a %s message", p.name, r.Code, r.Reason, typ)
	}
	if r.Type != typ || !bytes.Equal(r.Data, want) {
		t.Fatalf("%s received a %s message of %d bytes %s, want %s of %d bytes %s",
			p.name, r.Type, len(r.Data), preview(r.Data), typ, len(want), preview(want))
	}
}

// wantClosed checks that the peer's connection ended with a close frame
// carrying code (and reason, unless anyReason), as the peer saw it.
func wantClosed(t *testing.T, who string, r reply, code int, reason string, anyReason bool) {
	t.Helper()
	if !r.Closed {
		t.Fatalf("%s got a %s message of %d bytes instead of a close with code %d", who, r.Type, len(r.Data), code)
	}
	if r.Code != code || (!anyReason && r.Reason != reason) {
		t.Fatalf("%s saw close code %d reason %q, want code %d reason %q", who, r.Code, r.Reason, code, reason)
	}
}

func preview(b []byte) string {
	if len(b) > 24 {
		return fmt.Sprintf("%q...", b[:24])
	}
	return fmt.Sprintf("%q", b)
}

// textOf returns n bytes or a little fewer of valid UTF-8 text with one-,
// two-, three- and four-byte characters.
func textOf(n int) []byte {
	const unit = "wsx ✓ é 𝄞 interop "
	s := strings.Repeat(unit, n/len(unit)+1)[:n]
	// Cutting may have split the last character.
	return []byte(strings.ToValidUTF8(s, ""))
}

// binaryOf returns n bytes covering every byte value.
func binaryOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}
