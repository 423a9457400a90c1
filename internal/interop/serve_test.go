//go:build linux

package interop

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// buildWSX builds the wsx command, with the race detector when the tests
// have it, so that races in the server show up under real clients too.
func buildWSX(t *testing.T) string {
	t.Helper()
	return buildCommand(t, "github.com/wsx-go/wsx/cmd/wsx")
}

// buildEventEcho builds testdata/eventecho, an echo server on
// wsx.EventServer that speaks like wsx serve.
func buildEventEcho(t *testing.T) string {
	t.Helper()
	return buildCommand(t, "./testdata/eventecho")
}

func buildCommand(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// wsxServer is a running "wsx serve".
type wsxServer struct {
	*process
	stdout  lockedBuffer
	url     string // ws://127.0.0.1:PORT/, as the server printed it
	stopped bool
}

const listenPrefix = "wsx: echo server listening on "

// sameMachine is an --origin pattern for pages served by other servers on
// this machine's loopback address.
const sameMachine = "127.0.0.1:*"

// startServe runs "wsx serve" on a free port of 127.0.0.1 and returns once
// it has printed its URL. The server is stopped when the test ends.
func startServe(t *testing.T, bin string, args ...string) *wsxServer {
	t.Helper()
	return startServeEnv(t, bin, nil, args...)
}

// startServeEnv is startServe with env ("NAME=value" entries) added to the
// server's environment.
func startServeEnv(t *testing.T, bin string, env []string, args ...string) *wsxServer {
	t.Helper()
	return startListening(t, "wsx serve", append([]string{bin, "serve", "--addr", "127.0.0.1:0"}, args...), env)
}

// startEventEcho runs testdata/eventecho, built by buildEventEcho, like
// startServe.
func startEventEcho(t *testing.T, bin string, args ...string) *wsxServer {
	t.Helper()
	return startListening(t, "eventecho", append([]string{bin}, args...), nil)
}

// startListening runs a server that prints its URL as wsx serve does.
func startListening(t *testing.T, name string, argv, env []string) *wsxServer {
	t.Helper()
	args := argv[1:]
	s := &wsxServer{process: newProcess(name, "", argv...)}
	s.cmd.Stdout = &s.stdout
	if len(env) > 0 {
		s.cmd.Env = append(os.Environ(), env...)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if !s.stopped {
			s.stop(t)
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		out := s.stdout.String()
		if line, _, ok := strings.Cut(out, "\n"); ok {
			if !strings.HasPrefix(line, listenPrefix) {
				t.Fatalf("%s printed %q, want a line starting with %q", name, line, listenPrefix)
			}
			s.url = strings.TrimPrefix(line, listenPrefix)
			break
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited (%v) before printing its URL\nstderr:\n%s", name, s.err, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no URL within 10s; stdout %q", name, out)
		}
	}
	// With a certificate, the server speaks TLS.
	scheme := "ws"
	for _, a := range args {
		if a == "--tls-cert" || strings.HasPrefix(a, "--tls-cert=") {
			scheme = "wss"
		}
	}
	u, err := url.Parse(s.url)
	if err != nil || u.Scheme != scheme || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" || u.Path != "/" {
		t.Fatalf("%s printed URL %q, want %s://127.0.0.1:PORT/ (%v)", name, s.url, scheme, err)
	}
	return s
}

// httpURL is the server's address as a page URL: the echo tool page, which
// gives a browser a page of the server's origin.
func (s *wsxServer) httpURL() string { return "http" + strings.TrimPrefix(s.url, "ws") }

// stop sends SIGINT, as Ctrl-C would, and checks that the server exits
// cleanly and that the race detector found nothing.
func (s *wsxServer) stop(t *testing.T) {
	t.Helper()
	s.stopped = true
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Errorf("signal wsx serve: %v", err)
	}
	// Shutdown waits up to 10s for handlers and 5s for close handshakes.
	if !s.waitOrKill(20 * time.Second) {
		t.Errorf("%s still running 20s after SIGINT; killed\nstderr:\n%s", s.name, s.stderr.String())
		return
	}
	if s.err != nil {
		t.Errorf("%s exited with %v after SIGINT\nstderr:\n%s", s.name, s.err, s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		t.Errorf("race detected in %s:\n%s", s.name, s.stderr.String())
	}
}

// clientCaps says which cases a client can take part in: a browser's
// WebSocket, for one, can neither fragment, ping nor send invalid text.
type clientCaps struct {
	fragments     bool // sends a message as several frames
	splitRunes    bool // fragments may split a UTF-8 character
	ping          bool // sends pings and waits for the pong
	invalidText   bool // sends text that is not UTF-8
	closeNoStatus bool // sends a close frame without a status code
}

// smallLimit is the --max-message-size of the second server, which checks
// that an oversized message is refused with 1009.
const smallLimit = 1024

func TestServe(t *testing.T) {
	bin := buildWSX(t)
	// srv runs with the default, --compression on. Messages sent in
	// fragments go to plain instead, so that the frames on the wire are
	// the ones the client chose and can be compared byte for byte:
	// compressed, each client frames the message its own way.
	srv := startServe(t, bin)
	// The browser loads its page from srv; the origin pattern lets it
	// connect to the other servers too.
	plain := startServe(t, bin, "--compression", "off", "--origin", sameMachine)
	small := startServe(t, bin, "--max-message-size", "1024", "--origin", sameMachine)
	// The same cases run against wsx.EventServer.
	evBin := buildEventEcho(t)
	ev := startEventEcho(t, evBin, "--origin", sameMachine)
	evPlain := startEventEcho(t, evBin, "--compression=false", "--origin", sameMachine)
	evSmall := startEventEcho(t, evBin, "--max-message-size", "1024", "--origin", sameMachine)

	clients := []struct {
		name  string
		caps  clientCaps
		start func(t *testing.T) *peer
	}{
		{
			name: "node-ws",
			caps: clientCaps{fragments: true, splitRunes: true, ping: true, invalidText: true, closeNoStatus: true},
			start: func(t *testing.T) *peer {
				needNode(t)
				return startPeer(t, "node ws client", nodeDir, "node", "peer.mjs", "client")
			},
		},
		{
			name: "python-websockets",
			caps: clientCaps{fragments: true, ping: true, invalidText: true},
			start: func(t *testing.T) *peer {
				needPython(t)
				return startPeer(t, "python websockets client", pythonDir, systemPython, "peer.py", "client")
			},
		},
		{
			name: "chromium",
			caps: clientCaps{closeNoStatus: true},
			start: func(t *testing.T) *peer {
				needChromium(t)
				p := startPeer(t, "chromium", nodeDir, "node", "browser.mjs", srv.httpURL())
				// Launching the browser takes a few seconds.
				r := p.next(t, "launch", 60*time.Second)
				if r.Status != 200 {
					t.Fatalf("GET %s (the echo tool page) answered %d, want 200", srv.httpURL(), r.Status)
				}
				return p
			},
		},
	}

	t.Run("clients", func(t *testing.T) {
		for _, c := range clients {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				p := c.start(t)
				var tp *tap
				if c.caps.fragments {
					// Through a tap, the fragments can be seen.
					tp = startTap(t, hostOf(plain.url))
				}
				testServeClient(t, p, c.caps, srv.url, small.url, tp)
				t.Run("event-server", func(t *testing.T) {
					var tp *tap
					if c.caps.fragments {
						tp = startTap(t, hostOf(evPlain.url))
					}
					testServeClient(t, p, c.caps, ev.url, evSmall.url, tp)
				})
			})
		}
		t.Run("libwebsockets-event-server", func(t *testing.T) {
			t.Parallel()
			needLWS(t)
			testServeLWS(t, ev.url, true)
		})
		t.Run("libwebsockets", func(t *testing.T) {
			t.Parallel()
			needLWS(t)
			testServeLWS(t, srv.url, true)
		})
		t.Run("libwebsockets-no-compression", func(t *testing.T) {
			t.Parallel()
			needLWS(t)
			testServeLWS(t, plain.url, false)
		})
	})

	// Last, with the other clients gone: stopping the server must close
	// the connections it still has with 1001 and exit cleanly.
	t.Run("shutdown", func(t *testing.T) {
		needNode(t)
		needPython(t)
		peers := []*peer{
			startPeer(t, "node ws client", nodeDir, "node", "peer.mjs", "client"),
			startPeer(t, "python websockets client", pythonDir, systemPython, "peer.py", "client"),
		}
		for _, p := range peers {
			p.call(t, request{Op: "connect", URL: srv.url})
			p.send(t, request{Op: "wait_close", TimeoutMS: 20000})
		}
		srv.stop(t)
		for _, p := range peers {
			r := p.next(t, "wait_close", 30*time.Second)
			wantClosed(t, p.name, r, 1001, "server shutting down", false)
		}
	})
}

// testServeClient runs every case the client can take part in against
// "wsx serve" at url; smallURL is a server with a read limit of
// smallLimit; tp, if not nil, relays to a server without compression and
// shows the frames of fragmented messages, which then go there rather
// than to url. Each case uses a connection of its own.
func testServeClient(t *testing.T, p *peer, caps clientCaps, url, smallURL string, tp *tap) {
	t.Helper()
	connect := func(t *testing.T, u string) {
		t.Helper()
		r := p.call(t, request{Op: "connect", URL: u})
		if r.Protocol != "" {
			t.Fatalf("%s: server chose subprotocol %q, none was offered by wsx serve", p.name, r.Protocol)
		}
	}
	closeNormally := func(t *testing.T) {
		t.Helper()
		r := p.call(t, request{Op: "close", Code: 1000})
		wantClosed(t, p.name, r, 1000, "", true)
	}

	big := 1 << 20
	echoes := []struct {
		name  string
		typ   string
		parts [][]byte // more than one: sent as fragments
		split bool     // fragments split UTF-8 characters
	}{
		{name: "text", typ: "text", parts: [][]byte{textOf(40)}},
		{name: "binary", typ: "binary", parts: [][]byte{binaryOf(300)}},
		{name: "empty-text", typ: "text", parts: [][]byte{{}}},
		{name: "empty-binary", typ: "binary", parts: [][]byte{{}}},
		{name: "1MiB-text", typ: "text", parts: [][]byte{textOf(big)}},
		{name: "1MiB-binary", typ: "binary", parts: [][]byte{binaryOf(big)}},
		{name: "fragmented-text", typ: "text", parts: [][]byte{[]byte("frag"), []byte("mented ✓"), []byte(" text")}},
		{name: "fragmented-binary", typ: "binary", parts: [][]byte{binaryOf(10), {}, binaryOf(70000)}},
		{name: "fragmented-text-split-runes", typ: "text", split: true,
			// "é✓𝄞" cut inside each character.
			parts: [][]byte{[]byte("a\xc3"), []byte("\xa9\xe2\x9c"), []byte("\x93\xf0\x9d"), []byte("\x84\x9e")}},
	}
	for _, e := range echoes {
		if len(e.parts) > 1 && !caps.fragments || e.split && !caps.splitRunes {
			continue
		}
		t.Run("echo-"+e.name, func(t *testing.T) {
			viaTap := tp != nil && len(e.parts) > 1
			if viaTap {
				connect(t, "ws://"+tp.addr()+"/")
			} else {
				connect(t, url)
			}
			p.call(t, request{Op: "send", Type: e.typ, Parts: e.parts})
			p.wantMessage(t, e.typ, bytes.Join(e.parts, nil))
			if viaTap {
				op := rawpeer.OpBinary
				if e.typ == "text" {
					op = rawpeer.OpText
				}
				wantFragments(t, p.name, tp.last(t).toServer, op, e.parts)
			}
			closeNormally(t)
		})
	}

	t.Run("sequence", func(t *testing.T) {
		// Messages of both types and many sizes come back in order.
		connect(t, url)
		type msg struct {
			typ  string
			data []byte
		}
		var sent []msg
		for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 3} {
			m := msg{"binary", binaryOf(n)}
			if i%2 == 0 {
				m = msg{"text", textOf(n)}
			}
			sent = append(sent, m)
			p.call(t, request{Op: "send", Type: m.typ, Parts: [][]byte{m.data}})
		}
		for _, m := range sent {
			p.wantMessage(t, m.typ, m.data)
		}
		closeNormally(t)
	})

	if caps.ping {
		t.Run("ping", func(t *testing.T) {
			connect(t, url)
			want := []byte("wsx interop ping")
			r := p.call(t, request{Op: "ping", Data: want})
			if !bytes.Equal(r.Pong, want) {
				t.Fatalf("%s got pong %q, want %q", p.name, r.Pong, want)
			}
			// The connection still carries messages afterwards.
			p.call(t, request{Op: "send", Type: "text", Parts: [][]byte{[]byte("after ping")}})
			p.wantMessage(t, "text", []byte("after ping"))
			closeNormally(t)
		})
	}

	closes := []struct {
		name   string
		code   int // 0: a close frame without a status code
		reason string
		want   int
	}{
		{name: "close-4000", code: 4000, reason: "bye", want: 4000},
		{name: "close-1000", code: 1000, reason: "done", want: 1000},
		{name: "close-no-status", want: 1005},
	}
	for _, c := range closes {
		if c.code == 0 && !caps.closeNoStatus {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			connect(t, url)
			r := p.call(t, request{Op: "close", Code: c.code, Reason: c.reason})
			// wsx echoes the status code it received (RFC 6455 §5.5.1).
			wantClosed(t, p.name, r, c.want, "", true)
		})
	}

	if caps.invalidText {
		invalid := []struct {
			name  string
			parts [][]byte
		}{
			{name: "invalid-utf8", parts: [][]byte{[]byte("ok \xc3\x28 not")}},
			{name: "invalid-utf8-surrogate", parts: [][]byte{[]byte("\xed\xa0\x80")}},
			{name: "invalid-utf8-fragmented", parts: [][]byte{[]byte("fine so far "), []byte("\xf0\x9d\x84"), []byte("x")}},
		}
		for _, c := range invalid {
			if len(c.parts) > 1 && !caps.splitRunes {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				connect(t, url)
				p.call(t, request{Op: "send", Type: "text", Parts: c.parts})
				r := p.call(t, request{Op: "recv"})
				wantClosed(t, p.name, r, 1007, "", true)
			})
		}
	}

	t.Run("message-too-big", func(t *testing.T) {
		connect(t, smallURL)
		atLimit := binaryOf(smallLimit)
		p.call(t, request{Op: "send", Type: "binary", Parts: [][]byte{atLimit}})
		p.wantMessage(t, "binary", atLimit)
		p.call(t, request{Op: "send", Type: "binary", Parts: [][]byte{binaryOf(smallLimit + 1)}})
		r := p.call(t, request{Op: "recv"})
		wantClosed(t, p.name, r, 1009, "", true)
	})
}
