package rawpeer

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// acceptKey computes Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Dial connects to addr (host:port on 127.0.0.1) as a client, sends the
// opening handshake for target (a request URI such as "/?id=1") and checks
// the server's 101 response. Bytes in first go out in the same write as
// the request, as frames from a client that does not wait for the
// response. The connection is closed when tb ends.
func Dial(tb testing.TB, addr, target string, first ...[]byte) *Conn {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, DefaultTimeout)
	if err != nil {
		tb.Fatalf("rawpeer: dial: %v", err)
	}
	c := newConn(tb, nc, bufio.NewReader(nc), true)
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + target + " HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	c.WriteRaw(append([]byte(req), concat(first)...))
	nc.SetReadDeadline(time.Now().Add(DefaultTimeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		tb.Fatalf("rawpeer: read handshake response: %v", err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		tb.Fatalf("rawpeer: handshake answered %s, want 101", resp.Status)
	case !hasToken(resp.Header, "Upgrade", "websocket") || !hasToken(resp.Header, "Connection", "upgrade"):
		tb.Fatalf("rawpeer: 101 response lacks the upgrade headers: %v", resp.Header)
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		tb.Fatalf("rawpeer: Sec-WebSocket-Accept %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key))
	}
	return c
}

// Listener accepts WebSocket clients on 127.0.0.1 and answers their
// opening handshake.
type Listener struct {
	ln *net.TCPListener
}

// Listen listens on a free port of 127.0.0.1 until tb ends.
func Listen(tb testing.TB) *Listener {
	tb.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("rawpeer: listen: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	return &Listener{ln: ln}
}

// Addr returns the host:port the listener is on.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Accept waits for the next client, checks its opening handshake
// (RFC 6455 §4.2.1) and answers 101. Bytes in first go out in the same
// write as the response. The connection is closed when tb ends.
func (l *Listener) Accept(tb testing.TB, first ...[]byte) *Conn {
	tb.Helper()
	l.ln.SetDeadline(time.Now().Add(DefaultTimeout))
	nc, err := l.ln.Accept()
	if err != nil {
		tb.Fatalf("rawpeer: accept: %v", err)
	}
	c := newConn(tb, nc, bufio.NewReader(nc), false)
	nc.SetReadDeadline(time.Now().Add(DefaultTimeout))
	req, err := http.ReadRequest(c.br)
	if err != nil {
		tb.Fatalf("rawpeer: read handshake request: %v", err)
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	k, err := base64.StdEncoding.DecodeString(key)
	switch {
	case req.Method != http.MethodGet:
		tb.Fatalf("rawpeer: handshake method %s, want GET", req.Method)
	case !hasToken(req.Header, "Upgrade", "websocket") || !hasToken(req.Header, "Connection", "upgrade"):
		tb.Fatalf("rawpeer: handshake request lacks the upgrade headers: %v", req.Header)
	case req.Header.Get("Sec-WebSocket-Version") != "13":
		tb.Fatalf("rawpeer: Sec-WebSocket-Version %q, want 13", req.Header.Get("Sec-WebSocket-Version"))
	case err != nil || len(k) != 16:
		tb.Fatalf("rawpeer: Sec-WebSocket-Key %q is not 16 bytes in base64", key)
	}
	c.WriteRaw([]byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n" +
		string(concat(first))))
	return c
}

func concat(bs [][]byte) []byte {
	var b []byte
	for _, p := range bs {
		b = append(b, p...)
	}
	return b
}
