package wsx

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Requests as clients send them.
const (
	chromeRequest = "GET /chat?room=7 HTTP/1.1\r\n" +
		"Host: example.com:8080\r\n" +
		"Connection: Upgrade\r\n" +
		"Pragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\n" +
		"Origin: https://app.example.com\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\n" +
		"Cookie: session=abc123; theme=dark\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
		"Sec-WebSocket-Protocol: chat.v2, chat\r\n" +
		"\r\n"
	firefoxRequest = "GET /ws HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0\r\n" +
		"Accept: */*\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Origin: https://example.com\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate\r\n" +
		"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n" +
		"Connection: keep-alive, Upgrade\r\n" +
		"Sec-Fetch-Dest: empty\r\n" +
		"Sec-Fetch-Mode: websocket\r\n" +
		"Sec-Fetch-Site: same-origin\r\n" +
		"Pragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\n" +
		"Upgrade: websocket\r\n" +
		"\r\n"
	minimalRequest = "GET / HTTP/1.1\r\n" +
		"Host: 127.0.0.1:9000\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n"
)

func TestParseRequest(t *testing.T) {
	const ok = 0
	tests := []struct {
		name   string
		in     string
		status int    // of the error, or ok
		method string // for a request that parses
		target string
		host   string
		fields int
	}{
		{"Chrome", chromeRequest, ok, "GET", "/chat?room=7", "example.com:8080", 14},
		{"Firefox", firefoxRequest, ok, "GET", "/ws", "example.com", 16},
		{"minimal", minimalRequest, ok, "GET", "/", "127.0.0.1:9000", 5},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", ok, "GET", "/", "", 0},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", ok, "GET", "/", "h", 1},
		{"empty field value", "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Blank: \t \r\n\r\n", ok, "GET", "/", "h", 3},
		{"value white space", "GET / HTTP/1.1\r\nHost: h\r\nX-A:\t a b \t\r\n\r\n", ok, "GET", "/", "h", 2},
		{"obs-text in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\r\n\r\n", ok, "GET", "/", "h", 2},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ok, "GET", "/", "", 1},
		{"absolute target", "GET http://other.example/ws?x HTTP/1.1\r\nHost: h\r\n\r\n", ok, "GET", "http://other.example/ws?x", "other.example", 1},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", ok, "OPTIONS", "*", "h", 1},
		{"CONNECT authority", "CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", ok, "CONNECT", "example.com:443", "example.com:443", 1},
		{"escapes in the path", "GET /a%20b?c=%zz HTTP/1.1\r\nHost: h\r\n\r\n", ok, "GET", "/a%20b?c=%zz", "h", 1},
		{"equal Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", ok, "POST", "/", "h", 3},
		{"64 fields", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: y\r\n", 63) + "\r\n", ok, "GET", "/", "h", 64},

		{"head too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", maxHeadSize) + "\r\n\r\n", 431, "", "", "", 0},
		{"head too large without a line end", "GET /" + strings.Repeat("a", maxHeadSize), 431, "", "", "", 0},
		{"65 fields", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: y\r\n", 64) + "\r\n", 431, "", "", "", 0},
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "", "", "", 0},
		{"empty method, partial line", " / HTTP", 400, "", "", "", 0},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\n", 400, "", "", "", 0},
		{"bare LF in the fields", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "", "", "", 0},
		{"no target", "GET HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"empty target", "GET  HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"control byte in the target", "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"DEL in the target", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"bad escape in the path", "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"relative target", "GET chat HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"method with a separator", "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"two-digit version", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"CR before CRLF", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400, "", "", "", 0},
		{"missing Host", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 400, "", "", "", 0},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "", "", "", 0},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "", "", "", 0},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400, "", "", "", 0},
		{"indented first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "", "", "", 0},
		{"no colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n", 400, "", "", "", 0},
		{"empty name", "GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", 400, "", "", "", 0},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "", "", "", 0},
		{"separator in a name", "GET / HTTP/1.1\r\nHost: h\r\nX(A): a\r\n\r\n", 400, "", "", "", 0},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400, "", "", "", 0},
		{"CR in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400, "", "", "", 0},
		{"DEL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: \x7f\r\n\r\n", 400, "", "", "", 0},
		{"different Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "", "", "", 0},
		{"negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "", "", "", 0},
		{"empty Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400, "", "", "", 0},
		{"huge Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400, "", "", "", 0},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h requestHead
			// Bytes past the head must not matter.
			b := []byte(tt.in + "\x81\x80junk\r\n\r\n")
			n, err := parseRequest(b, &h)
			if tt.status != ok {
				var re *requestError
				if n != 0 || !errors.As(err, &re) || re.status != tt.status || !errors.Is(err, ErrHandshake) {
					t.Fatalf("parseRequest = %d, %v; want a %d error wrapping ErrHandshake", n, err, tt.status)
				}
				return
			}
			if err != nil || n != len(tt.in) {
				t.Fatalf("parseRequest = %d, %v; want %d", n, err, len(tt.in))
			}
			if string(h.method) != tt.method || string(h.target) != tt.target || string(h.host) != tt.host || len(h.fields()) != tt.fields {
				t.Fatalf("method %q target %q host %q, %d fields; want %q %q %q, %d", h.method, h.target, h.host, len(h.fields()), tt.method, tt.target, tt.host, tt.fields)
			}
		})
	}
}

// TestParseRequestFields checks the fields of a parsed head against what
// http.ReadRequest reads.
func TestParseRequestFields(t *testing.T) {
	for _, in := range []string{chromeRequest, firefoxRequest, minimalRequest} {
		var h requestHead
		if n, err := parseRequest([]byte(in), &h); n != len(in) || err != nil {
			t.Fatalf("parseRequest = %d, %v", n, err)
		}
		compareWithNetHTTP(t, []byte(in), &h)
	}
}

// TestParseRequestIncomplete cuts real requests at every byte: each part
// is the beginning of a valid head, and must be so reported.
func TestParseRequestIncomplete(t *testing.T) {
	for _, in := range []string{chromeRequest, firefoxRequest, minimalRequest} {
		var h requestHead
		for i := range len(in) {
			if n, err := parseRequest([]byte(in[:i]), &h); n != 0 || err != nil {
				t.Fatalf("parseRequest of the first %d bytes = %d, %v; want 0, nil\n%q", i, n, err, in[:i])
			}
		}
		if n, err := parseRequest([]byte(in), &h); n != len(in) || err != nil {
			t.Fatalf("parseRequest = %d, %v; want %d", n, err, len(in))
		}
	}
}

// compareWithNetHTTP checks that http.ReadRequest reads the head that
// parseRequest read into h from b, and reads it the same.
func compareWithNetHTTP(t *testing.T, b []byte, h *requestHead) {
	t.Helper()
	rd := bytes.NewReader(b)
	br := bufio.NewReader(rd)
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("parseRequest accepted what http.ReadRequest refuses (%v):\n%q", err, b)
	}
	n := len(b) - rd.Len() - br.Buffered()
	if head := headLength(b); n != head {
		t.Fatalf("http.ReadRequest read %d bytes, parseRequest a head of %d:\n%q", n, head, b)
	}
	if req.Method != string(h.method) || req.RequestURI != string(h.target) || req.Host != string(h.host) ||
		req.ProtoMajor != h.major || req.ProtoMinor != h.minor || req.Proto != string(h.proto) {
		t.Fatalf("http.ReadRequest read %q %q %q (%d.%d) host %q, parseRequest %q %q %q (%d.%d) host %q:\n%q",
			req.Method, req.RequestURI, req.Proto, req.ProtoMajor, req.ProtoMinor, req.Host,
			h.method, h.target, h.proto, h.major, h.minor, h.host, b)
	}
	got := http.Header{}
	for _, f := range h.fields() {
		got.Add(string(f.name), string(f.value))
	}
	// Where net/http changes the fields it read: it removes Host, keeps
	// one of equal Content-Lengths, and adds "Cache-Control: no-cache"
	// to "Pragma: no-cache" (RFC 7234 §5.4).
	delete(got, "Host")
	if cl := got.Values("Content-Length"); len(cl) > 1 {
		got["Content-Length"] = cl[:1]
	}
	if p := got["Pragma"]; len(p) > 0 && p[0] == "no-cache" && got["Cache-Control"] == nil {
		got["Cache-Control"] = []string{"no-cache"}
	}
	if !reflect.DeepEqual(got, req.Header) {
		t.Fatalf("http.ReadRequest read the fields\n%v\nparseRequest\n%v\nfrom\n%q", req.Header, got, b)
	}
}

// headLength returns where the first blank line of b ends.
func headLength(b []byte) int {
	return bytes.Index(b, []byte("\r\n\r\n")) + 4
}

// FuzzParseRequest checks parseRequest against http.ReadRequest: a head
// it accepts, net/http must read the same (method, target, version, host,
// fields, length), and a head net/http refuses, it must refuse or find
// incomplete. It refuses more than net/http does, on purpose: bare LF line
// ends, obs-fold, white space before a colon, Transfer-Encoding, more than
// maxHeaderFields fields or maxHeadSize bytes, and, as net/http's server
// does after http.ReadRequest, a missing, repeated or malformed Host.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		chromeRequest, firefoxRequest, minimalRequest,
		"GET / HTTP/1.0\r\n\r\n",
		"GET http://h/a?b HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		"CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"GET /%41?%zz HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: h\n\n",
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\nX-\xff: \xff\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h requestHead
		n, err := parseRequest(b, &h)
		if err != nil {
			var re *requestError
			if n != 0 || !errors.As(err, &re) || !errors.Is(err, ErrHandshake) {
				t.Fatalf("parseRequest = %d, %v", n, err)
			}
			return
		}
		if n == 0 {
			if len(b) >= maxHeadSize || bytes.Contains(b, []byte("\r\n\r\n")) {
				t.Fatalf("parseRequest found a head of %d bytes incomplete:\n%q", len(b), b)
			}
			return
		}
		if n > maxHeadSize || n != headLength(b) {
			t.Fatalf("parseRequest = %d for a head of %d bytes:\n%q", n, headLength(b), b)
		}
		compareWithNetHTTP(t, b, &h)
	})
}
