package wsx

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
)

// browserOptions are options a server for browsers might use.
var browserOptions = &AcceptOptions{
	Subprotocols:    []string{"chat.v2", "chat"},
	OriginPatterns:  []string{"*.example.com"},
	CompressionMode: CompressionContextTakeover,
}

// handshakeCases are requests with the options they are answered with:
// accepted with and without extensions, and refused for every reason.
var handshakeCases = []struct {
	name    string
	request string
	opts    *AcceptOptions
}{
	{"Chrome", chromeRequest, browserOptions},
	{"Chrome, no options", chromeRequest, nil},
	{"Firefox", firefoxRequest, browserOptions},
	{"Firefox, no context takeover", firefoxRequest, &AcceptOptions{CompressionMode: CompressionNoContextTakeover}},
	{"minimal", minimalRequest, nil},
	{"minimal, every option", minimalRequest, browserOptions},
	{"deflate parameters", withFields(minimalRequest, "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_max_window_bits=10; foo, permessage-deflate; server_max_window_bits=\"9\"; client_no_context_takeover; client_max_window_bits=12"), browserOptions},
	{"deflate declined", withFields(minimalRequest, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7"), browserOptions},
	{"subprotocol in two fields", withFields(minimalRequest, "Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: chat"), browserOptions},
	{"origin matches exactly", withFields(minimalRequest, "Origin: HTTPS://Other.Test"), &AcceptOptions{OriginPatterns: []string{"https://other.test"}}},
	{"origin by scheme pattern", withFields(minimalRequest, "Origin: https://a.b.example.com:8443"), &AcceptOptions{OriginPatterns: []string{"https://*.example.com:*"}}},
	{"origin not in the fast path", withFields(minimalRequest, "Origin: https://user@[::1]:443/"), &AcceptOptions{OriginPatterns: []string{"[[]::1]:443"}}},

	{"POST", strings.Replace(minimalRequest, "GET", "POST", 1), nil},
	{"HTTP/1.0", strings.Replace(minimalRequest, "HTTP/1.1", "HTTP/1.0", 1), nil},
	{"HTTP/2.0", strings.Replace(minimalRequest, "HTTP/1.1", "HTTP/2.0", 1), nil},
	{"not an upgrade", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", nil},
	{"Upgrade: h2c", strings.Replace(minimalRequest, "Upgrade: websocket", "Upgrade: h2c", 1), nil},
	{"version 8", strings.Replace(minimalRequest, "Version: 13", "Version: 8", 1), nil},
	{"two versions", withFields(minimalRequest, "Sec-WebSocket-Version: 13"), nil},
	{"no key", strings.Replace(minimalRequest, "Sec-WebSocket-Key", "X-Key", 1), nil},
	{"key of 15 bytes", strings.Replace(minimalRequest, "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAA", 1), nil},
	{"two keys", withFields(minimalRequest, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="), nil},
	{"foreign origin", withFields(minimalRequest, "Origin: https://evil.example.net"), browserOptions},
	{"null origin", withFields(minimalRequest, "Origin: null"), browserOptions},
}

// withFields adds header lines to a request.
func withFields(request string, lines ...string) string {
	return strings.TrimSuffix(request, "\r\n") + strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// TestHandshakeResponse checks that appendHandshakeResponse answers as
// Accept does, byte for byte: the 101 response Accept writes on the
// hijacked connection, or the refusal it writes through the
// ResponseWriter, sent as Upgrade sent it before it had its own
// responses: with the body's length and "Connection: close".
func TestHandshakeResponse(t *testing.T) {
	for _, tt := range handshakeCases {
		t.Run(tt.name, func(t *testing.T) {
			var h requestHead
			if n, err := parseRequest([]byte(tt.request), &h); n != len(tt.request) || err != nil {
				t.Fatalf("parseRequest = %d, %v", n, err)
			}
			got, hs, err := appendHandshakeResponse(nil, &h, tt.opts)

			r, rerr := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.request)))
			if rerr != nil {
				t.Fatal(rerr)
			}
			rec := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: &scriptConn{}}
			c, aerr := Accept(rec, r, tt.opts)
			var want []byte
			if aerr == nil {
				want = rec.conn.written()
				defer c.CloseNow()
			} else {
				want = refusalAsSent(rec.ResponseRecorder)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("response\n%s\nAccept's\n%s", got, want)
			}
			if fmt.Sprint(err) != fmt.Sprint(aerr) {
				t.Errorf("error %v, Accept's %v", err, aerr)
			}
			if aerr != nil {
				if hs.status != rec.Code {
					t.Errorf("status %d, Accept's %d", hs.status, rec.Code)
				}
				return
			}
			if hs.status != http.StatusSwitchingProtocols || hs.subprotocol != c.Subprotocol() || hs.compress != (c.deflate != nil) ||
				c.deflate != nil && hs.deflate != c.deflate.cfg {
				t.Errorf("result %+v; Accept's connection has subprotocol %q and compression %+v", hs, c.Subprotocol(), c.deflate)
			}
		})
	}
}

// refusalAsSent renders what a handler wrote to rec as Upgrade sent a
// refusal when it answered through net/http's header map.
func refusalAsSent(rec *httptest.ResponseRecorder) []byte {
	h := rec.Header().Clone()
	body := rec.Body.Bytes()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Connection", "close")
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
	h.Write(&b)
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

func TestAppendRequestError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		body   string
	}{
		{errBareLF, http.StatusBadRequest, "malformed HTTP request"},
		{errHeadTooLarge, http.StatusRequestHeaderFieldsTooLarge, "request header fields too large"},
		{errTransferEncoding, http.StatusNotImplemented, "Transfer-Encoding is not supported"},
		{bufio.ErrBufferFull, http.StatusBadRequest, "malformed HTTP request"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		http.Error(rec, tt.body, tt.status)
		if got, want := appendRequestError(nil, tt.err), refusalAsSent(rec); !bytes.Equal(got, want) {
			t.Errorf("response to %v\n%s\nwant\n%s", tt.err, got, want)
		}
	}
}

// TestHandshakeAllocs checks that reading, checking and answering an
// acceptable request allocates nothing.
func TestHandshakeAllocs(t *testing.T) {
	for _, tt := range handshakeCases {
		// Refusals may allocate, and so does net/url, which reads
		// origins of unusual forms.
		if !acceptable([]byte(tt.request), tt.opts) || tt.name == "origin not in the fast path" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.request)
			dst := make([]byte, 0, 1024)
			h := new(requestHead)
			var failed error
			allocs := testing.AllocsPerRun(100, func() {
				n, err := parseRequest(b, h)
				if n == 0 || err != nil {
					failed = err
					return
				}
				_, hs, err := appendHandshakeResponse(dst[:0], h, tt.opts)
				if err != nil || hs.status != http.StatusSwitchingProtocols {
					failed = err
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			if allocs != 0 {
				t.Errorf("%v allocations, want none", allocs)
			}
		})
	}
}

// acceptable reports whether the request in b is one to accept.
func acceptable(b []byte, opts *AcceptOptions) bool {
	var h requestHead
	if n, err := parseRequest(b, &h); n == 0 || err != nil {
		return false
	}
	_, _, err := appendHandshakeResponse(nil, &h, opts)
	return err == nil
}

// BenchmarkHandshakeResponse measures parseRequest and
// appendHandshakeResponse on requests as clients send them.
func BenchmarkHandshakeResponse(b *testing.B) {
	for _, tt := range handshakeCases[:6] {
		if !acceptable([]byte(tt.request), tt.opts) {
			continue
		}
		b.Run(strings.ReplaceAll(tt.name, " ", ""), func(b *testing.B) {
			req := []byte(tt.request)
			dst := make([]byte, 0, 1024)
			var h requestHead
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				if n, err := parseRequest(req, &h); n == 0 || err != nil {
					b.Fatal(n, err)
				}
				if _, _, err := appendHandshakeResponse(dst[:0], &h, tt.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// checkOriginWithURL is the origin policy as it was written before
// checkOrigin read byte slices, with net/url and path.Match throughout.
func checkOriginWithURL(origin, host string, patterns []string) bool {
	if origin == "" {
		return true
	}
	for _, p := range patterns {
		if strings.EqualFold(p, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		origin, host, pattern string
		want                  bool
	}{
		{"", "h", "", true},
		{"https://example.com", "example.com", "", true},
		{"https://EXAMPLE.com:8080", "example.COM:8080", "", true},
		{"http://example.com:8080", "example.com:9090", "", false},
		{"https://app.example.com", "api.test", "*.example.com", true},
		{"https://example.com", "api.test", "*.example.com", false},
		{"https://a.b.example.com", "api.test", "*.example.com", true},
		{"https://App.Example.COM", "api.test", "*.EXAMPLE.com", true},
		{"https://app.example.com", "api.test", "https://app.example.com", true},
		{"http://app.example.com", "api.test", "https://app.example.com", false},
		{"HTTPS://app.example.com", "api.test", "https://*.example.com", true},
		{"http://localhost:3000", "api.test", "localhost:*", true},
		{"http://localhost", "api.test", "localhost:*", false},
		{"http://localhost:", "api.test", "localhost:*", true},
		{"null", "api.test", "*", false},
		{"null", "api.test", "NULL", true},
		{"https://a.example.com/", "a.example.com", "", true},
		{"https://[::1]:8080", "[::1]:8080", "", true},
		{"https://x\u212a.test", "api.test", "*k.test", true},
		{"https://xk.test", "api.test", "*\u212a.test", true},
		{"https://x\u212a.test", "x\u212a.test", "", true},
		{"https://xk.test", "x\u212a.test", "", true},
		{"https://a.test", "api.test", "a.tes[", false},
		{"https://a.test", "api.test", "?.test", true},
		{"https://a.test", "api.test", "https:/*/a.test", false},
		{"https://ab.ab.test", "api.test", "*ab*ab.test", true},
	}
	for _, tt := range tests {
		h := originHead(tt.origin, tt.host)
		got := checkOrigin(h, []string{tt.pattern}) == nil
		if want := checkOriginWithURL(tt.origin, tt.host, []string{tt.pattern}); got != tt.want || want != tt.want {
			t.Errorf("origin %q host %q pattern %q: allowed %v (with net/url %v), want %v", tt.origin, tt.host, tt.pattern, got, want, tt.want)
		}
	}
}

// originHead returns a request head with the given Origin and host.
func originHead(origin, host string) *requestHead {
	h := &requestHead{host: []byte(host)}
	if origin != "" {
		h.field[0] = headerField{[]byte("Origin"), []byte(origin)}
		h.nfield = 1
	}
	return h
}

// FuzzCheckOrigin checks that checkOrigin, which reads common origins
// itself and matches simple patterns with globFold, decides as net/url and
// path.Match do.
func FuzzCheckOrigin(f *testing.F) {
	f.Add("https://app.example.com", "api.test", "*.example.com")
	f.Add("https://app.example.com:8443", "api.test", "https://*.example.com:*")
	f.Add("http://a/b", "a", "a")
	f.Add("ws://x*y.z", "h", "*x**y*")
	f.Add("https://a.b.c/d", "h", "*/*")
	f.Add("HTTP://%41.test", "A.test", "")
	f.Fuzz(func(t *testing.T, origin, host, pattern string) {
		got := checkOrigin(originHead(origin, host), []string{pattern}) == nil
		if want := checkOriginWithURL(origin, host, []string{pattern}); got != want {
			t.Fatalf("origin %q host %q pattern %q: allowed %v, with net/url %v", origin, host, pattern, got, want)
		}
		// globFold alone, on any ASCII.
		if simpleGlob(pattern) && isASCII([]byte(origin)) {
			want, err := path.Match(strings.ToLower(pattern), strings.ToLower(origin))
			if got := globFold(pattern, []byte(origin)); got != (want && err == nil) {
				t.Fatalf("globFold(%q, %q) = %v, path.Match %v, %v", pattern, origin, got, want, err)
			}
		}
	})
}
