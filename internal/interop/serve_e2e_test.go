//go:build linux

package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// TestServeE2E runs the wsx binary the way it is deployed, on 127.0.0.1,
// and checks what clients see on the wire and over HTTP. Each subtest
// starts servers of its own, so they run in parallel.
func TestServeE2E(t *testing.T) {
	bin := buildWSX(t)
	tests := []struct {
		name string
		run  func(t *testing.T, bin string)
	}{
		// The slowest first, so that the rest fill in around them.
		{"shutdown", testE2EShutdown},
		{"tls", testE2ETLS},
		{"echo", testE2EEcho},
		{"slowloris", testE2ESlowloris},
		{"idle-timeout", testE2EIdleTimeout},
		{"ping-interval", testE2EPingInterval},
		{"metrics", testE2EMetrics},
		{"http", testE2EHTTP},
		{"max-conns", testE2EMaxConns},
		{"origin", testE2EOrigin},
		{"max-message-size", testE2EMaxMessageSize},
		{"env", testE2EEnv},
		{"json-log", testE2EJSONLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, bin)
		})
	}
}

// testE2EEcho echoes text and binary messages for our own Dial, Node's ws
// and Python's websockets on every echo endpoint.
func testE2EEcho(t *testing.T, bin string) {
	s := startServe(t, bin)
	base := strings.TrimSuffix(s.url, "/")
	host := e2eHost(t, s)
	text := textOf(200)
	binary := binaryOf(70000)
	paths := []struct {
		name, path string
		headers    bool // a JSON description of the request comes first
	}{
		{"root", "/", false},
		{"echo", "/echo", false},
		{"headers", "/headers?probe=1", true},
	}

	t.Run("wsx", func(t *testing.T) {
		t.Parallel()
		opts := &wsx.DialOptions{
			HTTPHeader: http.Header{
				"User-Agent": {"wsx-e2e/1.0"},
				"X-Wsx-E2e":  {"token-123"},
			},
			Subprotocols: []string{"echo.v2", "echo.v1"},
		}
		for _, p := range paths {
			t.Run(p.name, func(t *testing.T) {
				c, resp := e2eDial(t, base+p.path, opts)
				// The server agrees to the client's first choice.
				if c.Subprotocol() != "echo.v2" || resp.Header.Get("Sec-WebSocket-Protocol") != "echo.v2" {
					t.Fatalf("subprotocol %q (response header %q), want echo.v2, the first offered",
						c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"))
				}
				if p.headers {
					typ, data := e2eRead(t, c)
					if typ != wsx.MessageText {
						t.Fatalf("first message on /headers is %s, want text", typeName(typ))
					}
					e2eCheckRequestJSON(t, data, "/headers?probe=1", host, map[string]string{
						"User-Agent":             "wsx-e2e/1.0",
						"X-Wsx-E2e":              "token-123",
						"Sec-Websocket-Protocol": "echo.v2, echo.v1",
						"Upgrade":                "websocket",
					})
				}
				e2eEcho(t, c, wsx.MessageText, text)
				e2eEcho(t, c, wsx.MessageBinary, binary)
				e2eClose(t, c, 1000)
			})
		}
	})

	peers := []struct {
		name    string
		start   func(t *testing.T) *peer
		headers map[string]string // what /headers must report, by substring
	}{
		{
			name: "node-ws",
			start: func(t *testing.T) *peer {
				needNode(t)
				return startPeer(t, "node ws client", nodeDir, "node", "peer.mjs", "client")
			},
			// ws offers compression unless told otherwise.
			headers: map[string]string{"Upgrade": "websocket", "Sec-Websocket-Extensions": "permessage-deflate"},
		},
		{
			name: "python-websockets",
			start: func(t *testing.T) *peer {
				needPython(t)
				return startPeer(t, "python websockets client", pythonDir, systemPython, "peer.py", "client")
			},
			headers: map[string]string{"Upgrade": "websocket", "User-Agent": "websockets/"},
		},
	}
	for _, pc := range peers {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			pr := pc.start(t)
			for _, p := range paths {
				t.Run(p.name, func(t *testing.T) {
					r := pr.call(t, request{Op: "connect", URL: base + p.path})
					if r.Protocol != "" {
						t.Fatalf("%s: server chose subprotocol %q, none was offered", pr.name, r.Protocol)
					}
					if p.headers {
						r := pr.call(t, request{Op: "recv"})
						if r.Closed || r.Type != "text" {
							t.Fatalf("%s: first message on /headers: type %q closed %v (code %d), want text", pr.name, r.Type, r.Closed, r.Code)
						}
						e2eCheckRequestJSON(t, r.Data, "/headers?probe=1", host, pc.headers)
					}
					pr.call(t, request{Op: "send", Type: "text", Parts: [][]byte{text}})
					pr.wantMessage(t, "text", text)
					pr.call(t, request{Op: "send", Type: "binary", Parts: [][]byte{binary}})
					pr.wantMessage(t, "binary", binary)
					r = pr.call(t, request{Op: "close", Code: 1000, Reason: "done"})
					wantClosed(t, pr.name, r, 1000, "", true)
				})
			}
		})
	}
}

// e2eCheckRequestJSON checks the /headers endpoint's description of the
// opening handshake: the request line, the Host and, by substring, the
// headers in want.
func e2eCheckRequestJSON(t *testing.T, data []byte, uri, host string, want map[string]string) {
	t.Helper()
	var got struct {
		Method  string `json:"method"`
		URI     string `json:"uri"`
		Proto   string `json:"proto"`
		Host    string `json:"host"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("/headers sent %s, not JSON: %v", preview(data), err)
	}
	if got.Method != "GET" || got.URI != uri || got.Proto != "HTTP/1.1" || got.Host != host {
		t.Errorf("/headers described %q %q %q host %q, want GET %q HTTP/1.1 host %q", got.Method, got.URI, got.Proto, got.Host, uri, host)
	}
	h := http.Header{}
	for _, kv := range got.Headers {
		h.Add(kv.Name, kv.Value)
	}
	for name, sub := range want {
		if v := strings.Join(h.Values(name), ", "); !strings.Contains(v, sub) {
			t.Errorf("/headers reported %s: %q, want it to contain %q\nall: %s", name, v, sub, data)
		}
	}
}

// testE2EHTTP checks the answers to plain HTTP requests: the page, its
// assets, health, metrics and refused upgrades.
func testE2EHTTP(t *testing.T, bin string) {
	s := startServe(t, bin)
	host := e2eHost(t, s)
	upgrade := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	cases := []struct {
		name    string
		method  string
		path    string
		extra   string            // more request header lines
		status  int               // the response status
		headers map[string]string // response headers, by substring
		body    string            // a substring of the body
	}{
		{name: "page", method: "GET", path: "/", status: 200,
			headers: map[string]string{"Content-Type": "text/html", "Content-Security-Policy": "default-src"},
			body:    "<html"},
		{name: "echo-without-upgrade", method: "GET", path: "/echo", status: 426,
			headers: map[string]string{"Upgrade": "websocket"}},
		{name: "headers-without-upgrade", method: "GET", path: "/headers", status: 426},
		{name: "post-upgrade-root", method: "POST", path: "/", extra: upgrade, status: 405,
			headers: map[string]string{"Allow": "GET"}},
		{name: "post-upgrade-echo", method: "POST", path: "/echo", extra: upgrade, status: 405,
			headers: map[string]string{"Allow": "GET"}},
		{name: "not-found", method: "GET", path: "/nope", status: 404},
		{name: "script", method: "GET", path: "/static/echo.js", status: 200,
			headers: map[string]string{"Content-Type": "javascript", "Content-Security-Policy": "default-src"}},
		{name: "healthz", method: "GET", path: "/healthz", status: 200, body: "ok"},
		{name: "metrics", method: "GET", path: "/metrics", status: 200,
			headers: map[string]string{"Content-Type": "text/plain"},
			body:    "# TYPE wsx_connections_open gauge"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// An upgrade request already has its Connection header.
			conn := "Connection: close\r\n"
			if c.extra != "" {
				conn = "Content-Length: 0\r\n"
			}
			req := c.method + " " + c.path + " HTTP/1.1\r\nHost: " + host + "\r\n" + c.extra + conn + "\r\n"
			resp, body := e2eRawHTTP(t, host, req)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s answered %s, want %d\nbody: %.300s", c.method, c.path, resp.Status, c.status, body)
			}
			for name, sub := range c.headers {
				if v := resp.Header.Get(name); !strings.Contains(v, sub) {
					t.Errorf("%s %s: %s: %q, want it to contain %q", c.method, c.path, name, v, sub)
				}
			}
			if !strings.Contains(body, c.body) {
				t.Errorf("%s %s: body %.300q, want it to contain %q", c.method, c.path, body, c.body)
			}
		})
	}
	t.Run("healthz-body", func(t *testing.T) {
		resp, body := e2eGet(t, s.httpURL()+"healthz", nil)
		if resp.StatusCode != 200 || strings.TrimSpace(body) != "ok" {
			t.Fatalf("GET /healthz: %s %q, want 200 \"ok\"", resp.Status, body)
		}
	})
}

// testE2EMetrics checks that /metrics follows the traffic of a client.
func testE2EMetrics(t *testing.T, bin string) {
	s := startServe(t, bin, "--max-conns", "1")
	e2eWaitMetrics(t, s, map[string]float64{
		`wsx_connections_open`:                     0,
		`wsx_handshakes_total{outcome="accepted"}`: 0,
	})

	// A page of another site is refused, and so is a plain GET of /echo.
	e2eDialRefused(t, s.url, &wsx.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}}, 403)
	if resp, _ := e2eGet(t, s.httpURL()+"echo", nil); resp.StatusCode != 426 {
		t.Fatalf("GET /echo answered %s, want 426", resp.Status)
	}
	e2eWaitMetrics(t, s, map[string]float64{
		`wsx_handshakes_total{outcome="forbidden"}`:   1,
		`wsx_handshakes_total{outcome="bad_request"}`: 1,
		`wsx_handshakes_total{outcome="accepted"}`:    0,
	})

	c, _ := e2eDial(t, s.url, nil)
	texts := [][]byte{textOf(5), textOf(100), textOf(1000)}
	binaries := [][]byte{binaryOf(7), binaryOf(300)}
	var textBytes, binaryBytes float64
	for _, m := range texts {
		e2eEcho(t, c, wsx.MessageText, m)
		textBytes += float64(len(m))
	}
	for _, m := range binaries {
		e2eEcho(t, c, wsx.MessageBinary, m)
		binaryBytes += float64(len(m))
	}
	e2eWaitMetrics(t, s, map[string]float64{
		`wsx_connections_open`:                          1,
		`wsx_handshakes_total{outcome="accepted"}`:      1,
		`wsx_messages_received_total{type="text"}`:      3,
		`wsx_messages_received_total{type="binary"}`:    2,
		`wsx_messages_sent_total{type="text"}`:          3,
		`wsx_messages_sent_total{type="binary"}`:        2,
		`wsx_received_bytes_total{type="text"}`:         textBytes,
		`wsx_received_bytes_total{type="binary"}`:       binaryBytes,
		`wsx_sent_bytes_total{type="text"}`:             textBytes,
		`wsx_sent_bytes_total{type="binary"}`:           binaryBytes,
		`wsx_echo_latency_seconds_count`:                5,
		`wsx_connection_duration_seconds_count`:         0,
		`wsx_handshakes_total{outcome="over_capacity"}`: 0,
	})

	// At --max-conns, the next client is refused.
	e2eDialRefused(t, s.url, nil, 503)
	e2eWaitMetrics(t, s, map[string]float64{`wsx_handshakes_total{outcome="over_capacity"}`: 1})

	// The server answers close 4001 with 4001.
	e2eClose(t, c, 4001)
	e2eWaitMetrics(t, s, map[string]float64{
		`wsx_connections_open`:                        0,
		`wsx_close_codes_received_total{code="4001"}`: 1,
		`wsx_close_codes_sent_total{code="4001"}`:     1,
		`wsx_connection_duration_seconds_count`:       1,
		`wsx_handshakes_total{outcome="accepted"}`:    1,
	})
}

// testE2ETLS serves wss:// and https:// with a certificate made here, to
// clients that trust it.
func testE2ETLS(t *testing.T, bin string) {
	certFile, keyFile, pool := e2eCert(t)
	s := startServe(t, bin, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.url, "wss://127.0.0.1:") {
		t.Fatalf("wsx serve printed %q, want wss://127.0.0.1:PORT/", s.url)
	}
	trusting := &tls.Config{RootCAs: pool}
	text, binary := textOf(300), binaryOf(20000)

	t.Run("wsx", func(t *testing.T) {
		t.Parallel()
		c, _ := e2eDial(t, s.url, &wsx.DialOptions{TLSConfig: trusting})
		e2eEcho(t, c, wsx.MessageText, text)
		e2eEcho(t, c, wsx.MessageBinary, binary)
		e2eClose(t, c, 1000)
	})
	t.Run("wsx-untrusted", func(t *testing.T) {
		t.Parallel()
		// Without the certificate in its roots, the client refuses
		// the server.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := wsx.Dial(ctx, s.url, nil)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial without the certificate among the roots succeeded")
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("Dial without the certificate among the roots: %v, want x509.UnknownAuthorityError", err)
		}
	})
	peers := []struct {
		name  string
		start func(t *testing.T) *peer
	}{
		{"node-ws", func(t *testing.T) *peer {
			needNode(t)
			return startPeer(t, "node ws client", nodeDir, "env", "NODE_EXTRA_CA_CERTS="+certFile, "node", "peer.mjs", "client")
		}},
		{"python-websockets", func(t *testing.T) *peer {
			needPython(t)
			// The default SSL context of Python reads its roots from
			// SSL_CERT_FILE.
			return startPeer(t, "python websockets client", pythonDir, "env", "SSL_CERT_FILE="+certFile, systemPython, "peer.py", "client")
		}},
	}
	for _, pc := range peers {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			p := pc.start(t)
			p.call(t, request{Op: "connect", URL: s.url})
			p.call(t, request{Op: "send", Type: "text", Parts: [][]byte{text}})
			p.wantMessage(t, "text", text)
			p.call(t, request{Op: "send", Type: "binary", Parts: [][]byte{binary}})
			p.wantMessage(t, "binary", binary)
			r := p.call(t, request{Op: "close", Code: 1000})
			wantClosed(t, p.name, r, 1000, "", true)
		})
	}
	t.Run("https", func(t *testing.T) {
		t.Parallel()
		if !strings.HasPrefix(s.httpURL(), "https://") {
			t.Fatalf("page URL %q, want https://", s.httpURL())
		}
		resp, body := e2eGet(t, s.httpURL()+"healthz", trusting)
		if resp.StatusCode != 200 || strings.TrimSpace(body) != "ok" {
			t.Fatalf("GET /healthz over TLS: %s %q, want 200 \"ok\"", resp.Status, body)
		}
		if resp.TLS == nil {
			t.Fatal("GET /healthz over TLS: the response came without TLS")
		}
		resp, _ = e2eGet(t, s.httpURL(), trusting)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET / over TLS: %s %q, want 200 text/html", resp.Status, resp.Header.Get("Content-Type"))
		}
	})
}

// testE2EShutdown sends SIGTERM to a server with clients exchanging
// messages and one client that never answers the close frame.
func testE2EShutdown(t *testing.T, bin string) {
	needNode(t)
	needPython(t)
	// Without the race detector's pause at exit, the exit shows when the
	// server is done.
	s := startServeEnv(t, bin, []string{"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")},
		"--shutdown-timeout", "3s")
	host := e2eHost(t, s)

	peers := []*peer{
		startPeer(t, "node ws client", nodeDir, "node", "peer.mjs", "client"),
		startPeer(t, "python websockets client", pythonDir, systemPython, "peer.py", "client"),
	}
	for _, p := range peers {
		p.call(t, request{Op: "connect", URL: s.url})
		p.call(t, request{Op: "send", Type: "text", Parts: [][]byte{[]byte("before shutdown")}})
		p.wantMessage(t, "text", []byte("before shutdown"))
		p.send(t, request{Op: "wait_close", TimeoutMS: 20000})
	}

	// Three clients of ours keep messages flowing both ways until the
	// server closes. Should the test end early, their connections are
	// closed before wg.Wait runs (cleanups run last first), which ends
	// the goroutines.
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	ended := make(chan error, 3)
	for i := range 3 {
		c, _ := e2eDial(t, s.url, nil)
		e2eEcho(t, c, wsx.MessageText, []byte("hello"))
		wg.Add(2)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			msg := []byte(fmt.Sprintf("client %d keeps talking", i))
			for c.Write(ctx, wsx.MessageText, msg) == nil {
				time.Sleep(time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					ended <- err
					return
				}
			}
		}()
	}

	// This one neither reads the close frame nor answers it.
	raw := rawpeer.Dial(t, host, "/")
	e2eWaitMetrics(t, s, map[string]float64{`wsx_connections_open`: 6})
	// Let the messages flow a while.
	time.Sleep(200 * time.Millisecond)

	s.stopped = true
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// While the server drains, health checks fail and new clients are
	// turned away.
	for {
		resp, body := e2eGet(t, s.httpURL()+"healthz", nil)
		if resp.StatusCode == 503 {
			if strings.TrimSpace(body) != "draining" {
				t.Errorf("GET /healthz while draining: body %q, want \"draining\"", body)
			}
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET /healthz after SIGTERM: %s, want 503", resp.Status)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("GET /healthz still answers %s 2s after SIGTERM, want 503", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp := e2eDialRefused(t, s.url, nil, 503)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("handshake refused while draining without Retry-After")
	}
	e2eWaitMetrics(t, s, map[string]float64{`wsx_handshakes_total{outcome="draining"}`: 1})

	// Every client that answers gets close 1001.
	for range 3 {
		select {
		case err := <-ended:
			var ce wsx.CloseError
			if !errors.As(err, &ce) || ce.Code != wsx.StatusGoingAway || ce.Reason != "server shutting down" {
				t.Errorf("wsx client: read ended with %v, want close 1001 \"server shutting down\"", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("wsx client: no close within 10s of SIGTERM")
		}
	}
	for _, p := range peers {
		r := p.next(t, "wait_close", 30*time.Second)
		wantClosed(t, p.name, r, 1001, "server shutting down", false)
	}

	// The process exits once the silent client's time is up.
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.killGroup()
		<-s.done
		t.Fatalf("wsx serve still running 15s after SIGTERM; killed\nstderr:\n%s", s.stderr.String())
	}
	took := time.Since(start)
	s.killGroup()
	stderr := s.stderr.String()
	if s.err != nil {
		t.Errorf("wsx serve exited with %v after SIGTERM, want status 0\nstderr:\n%s", s.err, stderr)
	}
	if took < 2500*time.Millisecond || took > 6*time.Second {
		t.Errorf("wsx serve exited %v after SIGTERM, want about 3s (--shutdown-timeout)", took)
	}
	if strings.Contains(stderr, "DATA RACE") {
		t.Errorf("race detected in wsx serve:\n%s", stderr)
	}
	if !e2eHasLine(stderr, "msg=stopped", "cut_off=1") {
		t.Errorf("log has no line with msg=stopped and cut_off=1:\n%s", stderr)
	}

	// The silent client was sent close 1001 too, and then cut off.
	raw.Timeout = 2 * time.Second
	if reason := raw.WantClose(1001); reason != "server shutting down" {
		t.Errorf("silent client: close reason %q, want \"server shutting down\"", reason)
	}
	raw.WantEOF()
}

// testE2EMaxConns checks --max-conns: one client more is refused until
// another leaves.
func testE2EMaxConns(t *testing.T, bin string) {
	s := startServe(t, bin, "--max-conns", "2")
	c1, _ := e2eDial(t, s.url, nil)
	c2, _ := e2eDial(t, s.url, nil)
	e2eEcho(t, c1, wsx.MessageText, []byte("one"))
	e2eEcho(t, c2, wsx.MessageText, []byte("two"))

	resp := e2eDialRefused(t, s.url, nil, 503)
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 at --max-conns without Retry-After; headers %v", resp.Header)
	}

	// Once a client has left there is room for one more, and only one.
	e2eClose(t, c1, 1000)
	c3 := e2eDialEventually(t, s.url)
	e2eEcho(t, c3, wsx.MessageBinary, binaryOf(100))
	e2eEcho(t, c2, wsx.MessageText, []byte("still here"))
	e2eDialRefused(t, s.url, nil, 503)
}

// e2eDialEventually dials until the server accepts, for up to 5s, while it
// refuses with 503: a server learns that a client left a little after the
// client does.
func e2eDialEventually(t *testing.T, url string) *wsx.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, resp, err := wsx.Dial(ctx, url, nil)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.CloseNow() })
			return c
		}
		if resp == nil || resp.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("Dial %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testE2ESlowloris checks --handshake-timeout: connections that do not
// send a whole request are dropped, while the server serves the others.
func testE2ESlowloris(t *testing.T, bin string) {
	s := startServe(t, bin, "--handshake-timeout", "1s")
	host := e2eHost(t, s)
	ws, _ := e2eDial(t, s.url, nil)

	start := time.Now()
	slow := []struct {
		name string
		send string
	}{
		{"partial-request", "GET / HTTP/1.1\r\nHost: x\r\n"},
		{"nothing", ""},
	}
	conns := make([]net.Conn, len(slow))
	for i, sl := range slow {
		nc, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		if _, err := io.WriteString(nc, sl.send); err != nil {
			t.Fatal(err)
		}
		conns[i] = nc
	}

	// Meanwhile everyone else is served.
	e2eEcho(t, ws, wsx.MessageText, []byte("while they dawdle"))
	if resp, _ := e2eGet(t, s.httpURL()+"healthz", nil); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}
	other, _ := e2eDial(t, s.url, nil)
	e2eEcho(t, other, wsx.MessageBinary, binaryOf(500))
	e2eClose(t, other, 1000)

	for i, sl := range slow {
		nc := conns[i]
		nc.SetReadDeadline(start.Add(6 * time.Second))
		b, err := io.ReadAll(nc)
		took := time.Since(start)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Errorf("%s: connection still open %v after it was made, want it closed after about 1s", sl.name, took)
			continue
		case err != nil && !errors.Is(err, syscall.ECONNRESET):
			t.Errorf("%s: read: %v, want EOF or a reset", sl.name, err)
		}
		if len(b) > 0 {
			t.Errorf("%s: the server sent %q before closing", sl.name, b)
		}
		if took < 900*time.Millisecond || took > 3500*time.Millisecond {
			t.Errorf("%s: closed %v after it was made, want about 1s (--handshake-timeout)", sl.name, took)
		}
	}

	// A WebSocket connection outlives the handshake timeout.
	e2eEcho(t, ws, wsx.MessageText, []byte("still here"))
	e2eWaitMetrics(t, s, map[string]float64{`wsx_handshakes_total{outcome="incomplete"}`: 2})
	e2eClose(t, ws, 1000)
}

// testE2EOrigin checks which browser origins may connect, by default and
// with --origin.
func testE2EOrigin(t *testing.T, bin string) {
	own := startServe(t, bin)
	pattern := startServe(t, bin, "--origin", "*.example.com")
	cases := []struct {
		name   string
		srv    *wsxServer
		origin string // "" sends none
		status int    // 101: accepted
	}{
		{"no-origin", own, "", 101},
		{"other-site", own, "https://evil.example", 403},
		{"own-host", own, "http://" + e2eHost(t, own), 101},
		{"pattern-match", pattern, "https://app.example.com", 101},
		{"pattern-mismatch", pattern, "https://example.org", 403},
		{"pattern-other-site", pattern, "https://evil.example", 403},
		{"pattern-own-host", pattern, "http://" + e2eHost(t, pattern), 101},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := &wsx.DialOptions{}
			if c.origin != "" {
				opts.HTTPHeader = http.Header{"Origin": {c.origin}}
			}
			if c.status != 101 {
				e2eDialRefused(t, c.srv.url, opts, c.status)
				return
			}
			conn, _ := e2eDial(t, c.srv.url, opts)
			e2eEcho(t, conn, wsx.MessageText, []byte(c.origin))
			e2eClose(t, conn, 1000)
		})
	}
}

// testE2EMaxMessageSize checks --max-message-size with a unit: a message at
// the limit is echoed, one byte more closes the connection with 1009.
func testE2EMaxMessageSize(t *testing.T, bin string) {
	s := startServe(t, bin, "--max-message-size", "1KiB")
	c, _ := e2eDial(t, s.url, nil)
	e2eEcho(t, c, wsx.MessageBinary, binaryOf(1024))
	e2eEcho(t, c, wsx.MessageText, bytes.Repeat([]byte("a"), 1024))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, wsx.MessageBinary, binaryOf(1025)); err != nil {
		t.Fatal(err)
	}
	e2eWantClosed(t, c, wsx.StatusMessageTooBig, "")
}

// testE2EEnv checks that WSX_* environment variables set flags, that the
// command line wins, and that a bad value stops the server from starting.
func testE2EEnv(t *testing.T, bin string) {
	t.Run("sets-flag", func(t *testing.T) {
		t.Parallel()
		s := startServeEnv(t, bin, []string{"WSX_MAX_CONNS=1"})
		c, _ := e2eDial(t, s.url, nil)
		e2eEcho(t, c, wsx.MessageText, []byte("the only one"))
		e2eDialRefused(t, s.url, nil, 503)
	})
	t.Run("command-line-wins", func(t *testing.T) {
		t.Parallel()
		s := startServeEnv(t, bin, []string{"WSX_MAX_CONNS=1"}, "--max-conns", "2")
		c1, _ := e2eDial(t, s.url, nil)
		c2, _ := e2eDial(t, s.url, nil)
		e2eEcho(t, c1, wsx.MessageText, []byte("one"))
		e2eEcho(t, c2, wsx.MessageText, []byte("two"))
		e2eDialRefused(t, s.url, nil, 503)
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "WSX_MAX_CONNS=abc")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("wsx serve with WSX_MAX_CONNS=abc: %v, want exit status 2\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), "WSX_MAX_CONNS") {
			t.Errorf("stderr does not name WSX_MAX_CONNS:\n%s", stderr.String())
		}
		if strings.Contains(stdout.String(), listenPrefix) {
			t.Errorf("wsx serve started listening despite the bad value: %s", stdout.String())
		}
	})
}

// testE2EJSONLog checks the log lines of one connection with
// --log-format json.
func testE2EJSONLog(t *testing.T, bin string) {
	s := startServe(t, bin, "--log-format", "json")
	c, _ := e2eDial(t, s.url, &wsx.DialOptions{HTTPHeader: http.Header{"User-Agent": {"wsx-e2e-log"}}})
	remote := c.LocalAddr().String()
	e2eEcho(t, c, wsx.MessageText, []byte("first"))
	e2eEcho(t, c, wsx.MessageBinary, binaryOf(300))
	e2eClose(t, c, 1000)

	isClosed := func(m map[string]any) bool { return m["msg"] == "connection closed" && m["remote"] == remote }
	var lines []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines = e2eJSONLines(t, s.stderr.String())
		if e2eFind(lines, isClosed) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"connection closed\" line for %s within 5s:\n%s", remote, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	open := e2eFind(lines, func(m map[string]any) bool { return m["msg"] == "connection open" && m["remote"] == remote })
	if open == nil {
		t.Fatalf("no \"connection open\" line for %s:\n%s", remote, s.stderr.String())
	}
	if open["user_agent"] != "wsx-e2e-log" || open["path"] != "/" {
		t.Errorf("connection open: user_agent %v path %v, want wsx-e2e-log and /", open["user_agent"], open["path"])
	}
	closed := e2eFind(lines, isClosed)
	want := map[string]float64{
		"messages_in":    2,
		"messages_out":   2,
		"bytes_in":       5 + 300,
		"bytes_out":      5 + 300,
		"close_sent":     1000,
		"close_received": 1000,
	}
	for k, v := range want {
		if got, ok := closed[k].(float64); !ok || got != v {
			t.Errorf("connection closed: %s = %v, want %v", k, closed[k], v)
		}
	}
	if d, ok := closed["duration"].(float64); !ok || d <= 0 {
		t.Errorf("connection closed: duration = %v, want a positive number", closed["duration"])
	}
}

// testE2EIdleTimeout checks --idle-timeout: messages keep a connection
// open, and a quiet one is closed with 1001.
func testE2EIdleTimeout(t *testing.T, bin string) {
	s := startServe(t, bin, "--idle-timeout", "1s")
	c, _ := e2eDial(t, s.url, nil)
	// Traffic every 300ms keeps the connection past the timeout.
	for i := range 5 {
		e2eEcho(t, c, wsx.MessageText, []byte("tick "+strconv.Itoa(i)))
		time.Sleep(300 * time.Millisecond)
	}
	start := time.Now()
	e2eWantClosed(t, c, wsx.StatusGoingAway, "idle timeout")
	// The last echo was 300ms before start.
	if took := time.Since(start); took < 500*time.Millisecond || took > 3*time.Second {
		t.Errorf("closed %v after going quiet, want about 1s (--idle-timeout)", took+300*time.Millisecond)
	}
}

// testE2EPingInterval checks --ping-interval: a client that answers
// pings stays, one that does not is pinged and closed with 1011.
func testE2EPingInterval(t *testing.T, bin string) {
	s := startServe(t, bin, "--ping-interval", "300ms")

	start := time.Now()
	raw := rawpeer.Dial(t, e2eHost(t, s), "/")
	raw.Timeout = 5 * time.Second
	if f := raw.WantFrame(); f.Opcode != rawpeer.OpPing {
		t.Fatalf("silent client: first frame %v, want a ping", f)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("silent client: ping %v after connecting, want about 300ms", took)
	}
	raw.WantClose(1011)
	raw.WantEOF()
	e2eWaitMetrics(t, s, map[string]float64{
		`wsx_connections_open`:                        0,
		`wsx_close_codes_sent_total{code="1011"}`:     1,
		`wsx_close_codes_received_total{code="1006"}`: 1,
	})

	// Our client answers pings while it reads, which keeps it open for
	// several intervals without a message.
	c, _ := e2eDial(t, s.url, nil)
	got := readInBackground(c)
	time.Sleep(1200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, wsx.MessageText, []byte("after pings")); err != nil {
		t.Fatalf("Write after 1.2s of pings: %v", err)
	}
	r := <-got
	if r.err != nil || r.typ != wsx.MessageText || string(r.data) != "after pings" {
		t.Fatalf("after 1.2s of pings: read %s %q, %v; want the echo", typeName(r.typ), r.data, r.err)
	}
	e2eClose(t, c, 1000)
	e2eWaitMetrics(t, s, map[string]float64{
		`wsx_close_codes_sent_total{code="1011"}`: 1,
		`wsx_close_codes_sent_total{code="1000"}`: 1,
	})
}

// e2eHost returns the host:port of the server's URL.
func e2eHost(t *testing.T, s *wsxServer) string {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// e2eDial opens a WebSocket connection, which is closed at the latest when
// the test ends.
func e2eDial(t *testing.T, url string, opts *wsx.DialOptions) (*wsx.Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := wsx.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial %s: status %d, want 101", url, resp.StatusCode)
	}
	return c, resp
}

// e2eDialRefused checks that the server refuses the opening handshake with
// status, and returns its response.
func e2eDialRefused(t *testing.T, url string, opts *wsx.DialOptions, status int) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := wsx.Dial(ctx, url, opts)
	if err == nil {
		c.CloseNow()
		t.Fatalf("Dial %s succeeded, want the handshake refused with %d", url, status)
	}
	if !errors.Is(err, wsx.ErrHandshake) {
		t.Fatalf("Dial %s: %v, want an error wrapping wsx.ErrHandshake", url, err)
	}
	if resp == nil || resp.StatusCode != status {
		got := "no response"
		if resp != nil {
			got = resp.Status
		}
		t.Fatalf("Dial %s: refused with %s, want %d", url, got, status)
	}
	return resp
}

// e2eRead reads one message.
func e2eRead(t *testing.T, c *wsx.Conn) (wsx.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return typ, data
}

// e2eEcho sends a message and checks that the same comes back.
func e2eEcho(t *testing.T, c *wsx.Conn, typ wsx.MessageType, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, data); err != nil {
		t.Fatalf("Write %s of %d bytes: %v", typeName(typ), len(data), err)
	}
	gotTyp, got := e2eRead(t, c)
	if gotTyp != typ || !bytes.Equal(got, data) {
		t.Fatalf("echo of a %s message of %d bytes %s: got %s of %d bytes %s",
			typeName(typ), len(data), preview(data), typeName(gotTyp), len(got), preview(got))
	}
}

// e2eClose closes the connection with code and checks that the server
// answered with the same code.
func e2eClose(t *testing.T, c *wsx.Conn, code wsx.StatusCode) {
	t.Helper()
	if err := c.Close(code, "e2e"); err != nil {
		t.Fatalf("Close(%d): %v", code, err)
	}
	if ce, ok := c.CloseReceived(); !ok || ce.Code != code {
		t.Fatalf("after Close(%d) the server answered %v (received %v), want %d", code, ce.Code, ok, code)
	}
}

// e2eWantClosed reads and checks that the server closed the connection
// with code and, unless reason is "", reason.
func e2eWantClosed(t *testing.T, c *wsx.Conn, code wsx.StatusCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err == nil {
		t.Fatalf("Read a %s message %s, want close %d", typeName(typ), preview(data), code)
	}
	var ce wsx.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("Read: %v, want close %d", err, code)
	}
	if ce.Code != code || (reason != "" && ce.Reason != reason) {
		t.Fatalf("server closed with %d %q, want %d %q", ce.Code, ce.Reason, code, reason)
	}
}

// e2eGet fetches url over a connection of its own, which the server
// closes after the response, so that no client goroutine outlives the
// request.
func e2eGet(t *testing.T, url string, tlsConfig *tls.Config) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConfig}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(body)
}

// e2eRawHTTP sends req, a whole HTTP/1.1 request, on a connection of its
// own and reads the response.
func e2eRawHTTP(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response body to %q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	return resp, string(body)
}

// e2eScrape fetches /metrics and returns each sample by its name and
// labels as written, such as wsx_handshakes_total{outcome="accepted"}.
func e2eScrape(t *testing.T, s *wsxServer) map[string]float64 {
	t.Helper()
	resp, body := e2eGet(t, s.httpURL()+"metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("/metrics line %q has no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// e2eWaitMetrics polls /metrics for up to 5s until each sample in want
// has its value (an absent one counts as 0): the server counts some
// events just after the client has seen them.
func e2eWaitMetrics(t *testing.T, s *wsxServer, want map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e2eScrape(t, s)
		var diffs []string
		for k, v := range want {
			if got[k] != v {
				diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
			}
		}
		if len(diffs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(diffs)
			t.Fatalf("/metrics after 5s:\n%s", strings.Join(diffs, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// e2eHasLine reports whether some line of log contains every one of subs.
func e2eHasLine(log string, subs ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// e2eJSONLines decodes a log of JSON lines, each of which must be an
// object with time, level and msg.
func e2eJSONLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("log line has no %q: %s", k, line)
			}
		}
		out = append(out, m)
	}
	return out
}

// e2eFind returns the first line that match accepts, or nil.
func e2eFind(lines []map[string]any, match func(map[string]any) bool) map[string]any {
	for _, m := range lines {
		if match(m) {
			return m
		}
	}
	return nil
}

// e2eCert writes a self-signed ECDSA certificate for 127.0.0.1 and its key
// as PEM files, and returns them with a pool that trusts the certificate.
func e2eCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wsx e2e test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
