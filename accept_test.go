package wsx_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// The worked example of RFC 6455 §1.3.
const (
	rfcSampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcSampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// acceptResult is what the handler's call to Accept returned.
type acceptResult struct {
	c   *wsx.Conn
	err error
}

// acceptServer starts an HTTP server whose handler runs before (if not
// nil) and then Accept, and sends Accept's results on the channel.
func acceptServer(t *testing.T, opts *wsx.AcceptOptions, before func(http.ResponseWriter)) (string, <-chan acceptResult) {
	t.Helper()
	results := make(chan acceptResult, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(w)
		}
		c, err := wsx.Accept(w, r, opts)
		results <- acceptResult{c, err}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), results
}

// handshakeLines builds the header lines of a client handshake from the
// valid one of RFC 6455 §1.3. Each mod "Name: value" replaces the line of
// that name, "Name:" removes it and "+Name: value" adds a line.
func handshakeLines(mods ...string) []string {
	lines := []string{
		"Host: 127.0.0.1",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + rfcSampleKey,
		"Sec-WebSocket-Version: 13",
	}
	for _, m := range mods {
		if add, ok := strings.CutPrefix(m, "+"); ok {
			lines = append(lines, add)
			continue
		}
		name, value, _ := strings.Cut(m, ":")
		value = strings.TrimSpace(value)
		found := false
		for i := 0; i < len(lines); i++ {
			n, _, _ := strings.Cut(lines[i], ":")
			if !strings.EqualFold(n, name) {
				continue
			}
			found = true
			if value == "" {
				lines = append(lines[:i], lines[i+1:]...)
				i--
			} else {
				lines[i] = name + ": " + value
			}
		}
		if !found && value != "" {
			lines = append(lines, name+": "+value)
		}
	}
	return lines
}

// rawRequest sends a request line and header lines over a new TCP
// connection to addr and reads the response. The connection is returned
// for use after a 101 and closed when the test ends.
func rawRequest(t *testing.T, addr, requestLine string, lines []string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := requestLine + "\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	method, _, _ := strings.Cut(requestLine, " ")
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response to %q: %v", requestLine, err)
	}
	return resp, conn, br
}

// maskedFrame returns a single-frame masked client message.
func maskedFrame(opcode byte, payload string, key [4]byte) []byte {
	if len(payload) > 125 {
		panic("maskedFrame: payload too long")
	}
	b := []byte{0x80 | opcode, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i := 0; i < len(payload); i++ {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

func TestAcceptHandshake(t *testing.T) {
	tests := []struct {
		name        string
		requestLine string // default "GET /ws HTTP/1.1"
		lines       []string
		opts        *wsx.AcceptOptions
		wantStatus  int
		wantHeader  map[string]string // "" means the header must be absent
		wantBody    string            // a substring of a refusal's body
	}{
		{
			name:       "RFC 6455 example",
			lines:      handshakeLines(),
			wantStatus: 101,
			wantHeader: map[string]string{
				"Upgrade": "websocket", "Connection": "Upgrade",
				"Sec-WebSocket-Accept": rfcSampleAccept, "Sec-WebSocket-Protocol": "",
			},
		},
		{
			name:       "token lists and case",
			lines:      handshakeLines("Connection: keep-alive, Upgrade", "Upgrade: WebSocket"),
			wantStatus: 101,
			wantHeader: map[string]string{"Sec-WebSocket-Accept": rfcSampleAccept},
		},
		{
			name:       "tokens in repeated headers",
			lines:      handshakeLines("Connection: keep-alive", "+Connection: UPGRADE", "Upgrade: h2c", "+Upgrade: websocket"),
			wantStatus: 101,
			wantHeader: map[string]string{"Sec-WebSocket-Accept": rfcSampleAccept},
		},
		{
			name:        "POST",
			requestLine: "POST /ws HTTP/1.1",
			lines:       handshakeLines("+Content-Length: 0"),
			wantStatus:  405,
			wantHeader:  map[string]string{"Allow": "GET"},
			wantBody:    "method must be GET",
		},
		{
			name:        "HTTP/1.0",
			requestLine: "GET /ws HTTP/1.0",
			lines:       handshakeLines(),
			wantStatus:  400,
		},
		{
			name:       "plain GET",
			lines:      handshakeLines("Upgrade:", "Connection:", "Sec-WebSocket-Key:", "Sec-WebSocket-Version:"),
			wantStatus: 426,
			wantHeader: map[string]string{"Upgrade": "websocket"},
		},
		{
			name:       "Connection without upgrade",
			lines:      handshakeLines("Connection: keep-alive"),
			wantStatus: 426,
			wantHeader: map[string]string{"Upgrade": "websocket"},
		},
		{
			name:       "Upgrade to another protocol",
			lines:      handshakeLines("Upgrade: h2c"),
			wantStatus: 426,
			wantHeader: map[string]string{"Upgrade": "websocket"},
		},
		{
			name:       "version 8",
			lines:      handshakeLines("Sec-WebSocket-Version: 8"),
			wantStatus: 426,
			wantHeader: map[string]string{"Sec-WebSocket-Version": "13"},
		},
		{
			name:       "no version",
			lines:      handshakeLines("Sec-WebSocket-Version:"),
			wantStatus: 426,
			wantHeader: map[string]string{"Sec-WebSocket-Version": "13"},
		},
		{
			name:       "two versions",
			lines:      handshakeLines("+Sec-WebSocket-Version: 8"),
			wantStatus: 426,
			wantHeader: map[string]string{"Sec-WebSocket-Version": "13"},
		},
		{
			name:       "no key",
			lines:      handshakeLines("Sec-WebSocket-Key:"),
			wantStatus: 400,
			wantBody:   "Sec-WebSocket-Key",
		},
		{
			name:       "key of 15 bytes",
			lines:      handshakeLines("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"),
			wantStatus: 400,
		},
		{
			name:       "key of 17 bytes",
			lines:      handshakeLines("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="),
			wantStatus: 400,
		},
		{
			name:       "key not base64",
			lines:      handshakeLines("Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="),
			wantStatus: 400,
		},
		{
			name:       "two keys",
			lines:      handshakeLines("+Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="),
			wantStatus: 400,
		},
		{
			name:       "no Origin",
			lines:      handshakeLines("Host: example.com"),
			wantStatus: 101,
		},
		{
			name:       "same origin",
			lines:      handshakeLines("Host: example.com", "Origin: https://example.com"),
			wantStatus: 101,
		},
		{
			name:       "same origin, other case",
			lines:      handshakeLines("Host: example.com:8080", "Origin: http://EXAMPLE.com:8080"),
			wantStatus: 101,
		},
		{
			name:       "same name, other port",
			lines:      handshakeLines("Host: example.com:8080", "Origin: http://example.com:9090"),
			wantStatus: 403,
		},
		{
			name:       "cross origin",
			lines:      handshakeLines("Host: example.com", "Origin: https://evil.example.net"),
			wantStatus: 403,
			wantBody:   "origin not allowed",
		},
		{
			name:       "cross origin allowed by host pattern",
			lines:      handshakeLines("Host: api.test", "Origin: https://app.example.com"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"*.example.com"}},
			wantStatus: 101,
		},
		{
			name:       "host pattern does not match the bare domain",
			lines:      handshakeLines("Host: api.test", "Origin: https://example.com"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"*.example.com"}},
			wantStatus: 403,
		},
		{
			name:       "host pattern ignores case",
			lines:      handshakeLines("Host: api.test", "Origin: https://App.Example.COM"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"*.example.com"}},
			wantStatus: 101,
		},
		{
			name:       "scheme pattern",
			lines:      handshakeLines("Host: api.test", "Origin: https://app.example.com"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"https://app.example.com"}},
			wantStatus: 101,
		},
		{
			name:       "scheme pattern, other scheme",
			lines:      handshakeLines("Host: api.test", "Origin: http://app.example.com"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"https://app.example.com"}},
			wantStatus: 403,
		},
		{
			name:       "port pattern",
			lines:      handshakeLines("Host: api.test", "Origin: http://localhost:3000"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"localhost:*"}},
			wantStatus: 101,
		},
		{
			name:       "port pattern needs a port",
			lines:      handshakeLines("Host: api.test", "Origin: http://localhost"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"localhost:*"}},
			wantStatus: 403,
		},
		{
			name:       "null origin",
			lines:      handshakeLines("Host: api.test", "Origin: null"),
			opts:       &wsx.AcceptOptions{OriginPatterns: []string{"*"}},
			wantStatus: 403,
		},
		{
			name:       "InsecureSkipOriginCheck",
			lines:      handshakeLines("Host: api.test", "Origin: https://evil.example.net"),
			opts:       &wsx.AcceptOptions{InsecureSkipOriginCheck: true},
			wantStatus: 101,
		},
		{
			name:       "InsecureSkipOriginCheck, null origin",
			lines:      handshakeLines("Host: api.test", "Origin: null"),
			opts:       &wsx.AcceptOptions{InsecureSkipOriginCheck: true},
			wantStatus: 101,
		},
		{
			name:       "subprotocol, server preference wins",
			lines:      handshakeLines("Sec-WebSocket-Protocol: chat.v1, chat.v2"),
			opts:       &wsx.AcceptOptions{Subprotocols: []string{"chat.v2", "chat.v1"}},
			wantStatus: 101,
			wantHeader: map[string]string{"Sec-WebSocket-Protocol": "chat.v2"},
		},
		{
			name:       "subprotocol in repeated headers",
			lines:      handshakeLines("Sec-WebSocket-Protocol: a", "+Sec-WebSocket-Protocol: chat.v1"),
			opts:       &wsx.AcceptOptions{Subprotocols: []string{"chat.v2", "chat.v1"}},
			wantStatus: 101,
			wantHeader: map[string]string{"Sec-WebSocket-Protocol": "chat.v1"},
		},
		{
			name:       "subprotocol, none matches",
			lines:      handshakeLines("Sec-WebSocket-Protocol: mqtt"),
			opts:       &wsx.AcceptOptions{Subprotocols: []string{"chat.v2", "chat.v1"}},
			wantStatus: 101,
			wantHeader: map[string]string{"Sec-WebSocket-Protocol": ""},
		},
		{
			name:       "subprotocol offered, server has none",
			lines:      handshakeLines("Sec-WebSocket-Protocol: chat.v1"),
			wantStatus: 101,
			wantHeader: map[string]string{"Sec-WebSocket-Protocol": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, results := acceptServer(t, tt.opts, nil)
			requestLine := tt.requestLine
			if requestLine == "" {
				requestLine = "GET /ws HTTP/1.1"
			}
			resp, conn, br := rawRequest(t, addr, requestLine, tt.lines)
			var res acceptResult
			select {
			case res = <-results:
			case <-time.After(10 * time.Second):
				t.Fatal("the handler did not return from Accept")
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			for k, want := range tt.wantHeader {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if tt.wantStatus != http.StatusSwitchingProtocols {
				if res.c != nil {
					res.c.CloseNow()
					t.Fatal("Accept returned a connection for a refused handshake")
				}
				if !errors.Is(res.err, wsx.ErrHandshake) {
					t.Errorf("Accept error %v does not wrap ErrHandshake", res.err)
				}
				if v := resp.Header.Get("Sec-WebSocket-Accept"); v != "" {
					t.Errorf("refusal carries Sec-WebSocket-Accept %q", v)
				}
				body, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(body), tt.wantBody) {
					t.Errorf("body %q does not contain %q", body, tt.wantBody)
				}
				return
			}
			if res.err != nil {
				t.Fatalf("Accept: %v", res.err)
			}
			defer res.c.CloseNow()
			if want := tt.wantHeader["Sec-WebSocket-Protocol"]; res.c.Subprotocol() != want {
				t.Errorf("server Subprotocol() = %q, want %q", res.c.Subprotocol(), want)
			}
			// The connection now speaks WebSocket: a masked frame from
			// the client arrives as a message.
			if _, err := conn.Write(maskedFrame(0x1, "hello", [4]byte{1, 2, 3, 4})); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			typ, msg, err := res.c.Read(ctx)
			if err != nil || typ != wsx.MessageText || string(msg) != "hello" {
				t.Fatalf("server read %v %q %v, want text \"hello\"", typ, msg, err)
			}
			if err := res.c.Write(ctx, wsx.MessageBinary, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			frame := make([]byte, 4)
			if _, err := io.ReadFull(br, frame); err != nil || string(frame) != "\x82\x02hi" {
				t.Fatalf("client read % x %v, want an unmasked binary \"hi\"", frame, err)
			}
		})
	}
}

// TestAcceptKeepsHandlerHeaders checks that headers the handler set before
// Accept go out with the 101 response, and that Accept's own headers win.
func TestAcceptKeepsHandlerHeaders(t *testing.T) {
	addr, results := acceptServer(t, nil, func(w http.ResponseWriter) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc123"})
		w.Header().Set("X-Server", "wsx-test")
		w.Header().Set("Sec-WebSocket-Accept", "forged")
	})
	resp, _, _ := rawRequest(t, addr, "GET / HTTP/1.1", handshakeLines())
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "session=abc123" {
		t.Errorf("Set-Cookie %q, want [session=abc123]", got)
	}
	if got := resp.Header.Get("X-Server"); got != "wsx-test" {
		t.Errorf("X-Server %q, want wsx-test", got)
	}
	if got := resp.Header.Values("Sec-WebSocket-Accept"); len(got) != 1 || got[0] != rfcSampleAccept {
		t.Errorf("Sec-WebSocket-Accept %q, want [%s]", got, rfcSampleAccept)
	}
}

// TestAcceptRefusalKeepsHTTP checks that after a refusal the connection is
// still an HTTP connection: a second request on it gets an HTTP answer.
func TestAcceptRefusalKeepsHTTP(t *testing.T) {
	addr, results := acceptServer(t, nil, nil)
	resp, conn, br := rawRequest(t, addr, "GET / HTTP/1.1", handshakeLines("Sec-WebSocket-Version: 8"))
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
	io.Copy(io.Discard, resp.Body)
	if res := <-results; res.c != nil || res.err == nil {
		t.Fatalf("Accept returned %v, %v; want a refusal", res.c, res.err)
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\n"+strings.Join(handshakeLines(), "\r\n")+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("second request on the refused connection: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("second request: status %d, want 101", resp.StatusCode)
	}
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	res.c.CloseNow()
}

// TestAcceptOriginError checks the error Accept returns for a refused
// origin.
func TestAcceptOriginError(t *testing.T) {
	addr, results := acceptServer(t, nil, nil)
	resp, _, _ := rawRequest(t, addr, "GET / HTTP/1.1", handshakeLines("Host: example.com", "Origin: https://evil.example.net"))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	res := <-results
	if res.c != nil {
		t.Fatal("Accept returned a connection")
	}
	if !errors.Is(res.err, wsx.ErrHandshake) || !strings.Contains(res.err.Error(), "evil.example.net") {
		t.Fatalf("Accept error %v: want ErrHandshake naming the origin", res.err)
	}
}

func TestIsUpgrade(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header map[string]string
		want   bool
	}{
		{"websocket", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, true},
		{"token lists and case", "GET", map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"}, true},
		{"POST", "POST", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, false},
		{"no Connection", "GET", map[string]string{"Upgrade": "websocket"}, false},
		{"no Upgrade", "GET", map[string]string{"Connection": "Upgrade"}, false},
		{"other protocol", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, false},
		{"plain GET", "GET", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := wsx.IsUpgrade(r); got != tt.want {
				t.Fatalf("IsUpgrade = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAcceptManyHeaderValues offers 70 subprotocols in as many header
// lines, more than a request parsed by Upgrade may have: Accept still sees
// them all.
func TestAcceptManyHeaderValues(t *testing.T) {
	var mods []string
	for i := range 70 {
		mods = append(mods, fmt.Sprintf("+Sec-WebSocket-Protocol: p%d", i))
	}
	addr, results := acceptServer(t, &wsx.AcceptOptions{Subprotocols: []string{"p69"}}, nil)
	resp, _, _ := rawRequest(t, addr, "GET / HTTP/1.1", handshakeLines(mods...))
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols || res.c.Subprotocol() != "p69" {
		t.Fatalf("status %d, subprotocol %q; want 101 and p69", resp.StatusCode, res.c.Subprotocol())
	}
}
