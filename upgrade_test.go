package wsx_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// upgradeServer accepts TCP connections and runs wsx.Upgrade on each,
// echoing messages on the connections it upgrades. Each handshake's
// result goes to results.
type upgradeServer struct {
	ln      net.Listener
	results chan upgradeResult
}

type upgradeResult struct {
	req *http.Request
	err error
}

func startUpgradeServer(t *testing.T, timeout time.Duration, opts *wsx.AcceptOptions) *upgradeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &upgradeServer{ln: ln, results: make(chan upgradeResult, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				c, req, err := wsx.Upgrade(ctx, nc, opts)
				s.results <- upgradeResult{req, err}
				if err != nil {
					return
				}
				defer c.CloseNow()
				for {
					typ, p, err := c.Read(context.Background())
					if err != nil {
						return
					}
					c.Write(context.Background(), typ, p)
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return s
}

func (s *upgradeServer) result(t *testing.T) upgradeResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no handshake result")
	}
	panic("unreachable")
}

func TestUpgrade(t *testing.T) {
	s := startUpgradeServer(t, 5*time.Second, &wsx.AcceptOptions{Subprotocols: []string{"chat"}})
	url := "ws://" + s.ln.Addr().String() + "/room?id=7"
	c, resp, err := wsx.Dial(context.Background(), url, &wsx.DialOptions{
		Subprotocols: []string{"chat"},
		HTTPHeader:   http.Header{"Authorization": {"Bearer t0ken"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	r := s.result(t)
	switch {
	case r.err != nil:
		t.Fatalf("Upgrade: %v", r.err)
	case r.req.URL.Path != "/room" || r.req.URL.Query().Get("id") != "7":
		t.Errorf("request URL %v", r.req.URL)
	case r.req.Header.Get("Authorization") != "Bearer t0ken":
		t.Errorf("request headers %v", r.req.Header)
	case r.req.RemoteAddr != c.LocalAddr().String():
		t.Errorf("RemoteAddr %q, want %q", r.req.RemoteAddr, c.LocalAddr())
	case resp.Header.Get("Sec-WebSocket-Protocol") != "chat" || c.Subprotocol() != "chat":
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	for _, m := range []string{"hello", strings.Repeat("x", 100000)} {
		c.Write(context.Background(), wsx.MessageText, []byte(m))
		if _, p, err := c.Read(context.Background()); err != nil || string(p) != m {
			t.Fatalf("echo: %d bytes, %v", len(p), err)
		}
	}
}

// TestUpgradeEarlyFrames sends frames in the same write as the request:
// the bytes read past the request must reach the connection.
func TestUpgradeEarlyFrames(t *testing.T) {
	s := startUpgradeServer(t, 5*time.Second, nil)
	first := rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, Payload: []byte("early"), Masked: true, Key: [4]byte{1, 2, 3, 4}})
	peer := rawpeer.Dial(t, s.ln.Addr().String(), "/", first)
	if r := s.result(t); r.err != nil {
		t.Fatal(r.err)
	}
	if m := peer.WantMessage(); string(m.Payload) != "early" {
		t.Fatalf("echo %q, want \"early\"", m.Payload)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	s := startUpgradeServer(t, time.Second, &wsx.AcceptOptions{OriginPatterns: []string{"*.example.com"}})
	tests := []struct {
		name       string
		request    string
		wantStatus int
		wantErr    error
	}{
		{"POST", "POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", 405, wsx.ErrHandshake},
		{"not an upgrade", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 426, wsx.ErrHandshake},
		{"no key", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, wsx.ErrHandshake},
		{"foreign origin", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n", 403, wsx.ErrHandshake},
		{"garbage", "\x16\x03\x01 not HTTP at all\r\n\r\n", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", s.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || len(body) == 0 {
				t.Errorf("status %d body %q, want %d with an explanation", resp.StatusCode, body, tt.wantStatus)
			}
			r := s.result(t)
			if r.err == nil || (tt.wantErr != nil && !errors.Is(r.err, tt.wantErr)) {
				t.Errorf("Upgrade error %v, want one wrapping %v", r.err, tt.wantErr)
			}
		})
	}

	t.Run("slow client", func(t *testing.T) {
		nc, err := net.Dial("tcp", s.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: h\r\n")
		r := s.result(t)
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("Upgrade error %v, want the context's deadline", r.err)
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection still open after the handshake deadline (read %d bytes)", n)
		}
	})
}

// FuzzUpgradeRequest feeds arbitrary bytes to Upgrade as the request: it
// must return, upgrade only a request with the handshake's headers, and
// answer everything else with an HTTP error, never a panic or a hang.
func FuzzUpgradeRequest(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x80\x01\x02\x03\x04"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("GET /\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("\x00\x01\x02"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		// The client sends data and shuts down its sending side, so an
		// incomplete request ends at once instead of at the deadline.
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		go func() {
			cl.Write(data)
			cl.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, cl)
		}()
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, req, err := wsx.Upgrade(ctx, nc, nil)
		if err != nil {
			if c != nil {
				t.Fatal("Upgrade returned a connection with an error")
			}
			nc.Close()
			return
		}
		defer c.CloseNow()
		if req == nil || !wsx.IsUpgrade(req) || req.Header.Get("Sec-WebSocket-Key") == "" {
			t.Fatalf("upgraded a request without the handshake's headers: %v", req)
		}
	})
}

// TestUpgradeRequest checks the request Upgrade returns against the one
// http.ReadRequest reads from the same bytes.
func TestUpgradeRequest(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	tests := []struct{ name, request string }{
		{"origin form", "GET /room/a%20b?id=7&x=%zz HTTP/1.1\r\n" +
			"host: example.com:8080\r\n" +
			"upgrade: websocket\r\n" +
			"CONNECTION: keep-alive, Upgrade\r\n" +
			"sec-websocket-key: " + key + "\r\n" +
			"Sec-WebSocket-Version: 13\r\n" +
			"Cookie: a=1\r\n" +
			"Pragma: no-cache\r\n" +
			"X-Empty:\r\n" +
			"cookie: b=2\r\n" +
			"\r\n"},
		{"long head", "GET /ws HTTP/1.1\r\n" +
			"Host: example.com\r\n" +
			"Upgrade: websocket\r\n" +
			"Connection: Upgrade\r\n" +
			"Cookie: " + strings.Repeat("a=bcdefgh; ", 1000) + "z=0\r\n" +
			"Sec-WebSocket-Key: " + key + "\r\n" +
			"Sec-WebSocket-Version: 13\r\n" +
			"\r\n"},
		{"absolute form", "GET http://other.example/ws HTTP/1.1\r\n" +
			"Host: example.com\r\n" +
			"Upgrade: websocket\r\n" +
			"Connection: Upgrade\r\n" +
			"Sec-WebSocket-Key: " + key + "\r\n" +
			"Sec-WebSocket-Version: 13\r\n" +
			"\r\n"},
	}
	s := startUpgradeServer(t, 5*time.Second, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.request)))
			if err != nil {
				t.Fatal(err)
			}
			nc, err := net.Dial("tcp", s.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, tt.request)
			if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("response %v, %v; want 101", resp, err)
			}
			r := s.result(t)
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := r.req
			if got.Method != want.Method || got.URL.String() != want.URL.String() || got.Proto != want.Proto ||
				got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor ||
				got.Host != want.Host || got.RequestURI != want.RequestURI {
				t.Errorf("request %s %s %s (%d.%d) host %q URI %q; want %s %s %s (%d.%d) host %q URI %q",
					got.Method, got.URL, got.Proto, got.ProtoMajor, got.ProtoMinor, got.Host, got.RequestURI,
					want.Method, want.URL, want.Proto, want.ProtoMajor, want.ProtoMinor, want.Host, want.RequestURI)
			}
			if !reflect.DeepEqual(got.Header, want.Header) {
				t.Errorf("header\n%v\nwant\n%v", got.Header, want.Header)
			}
			if got.RemoteAddr != nc.LocalAddr().String() {
				t.Errorf("RemoteAddr %q, want %q", got.RemoteAddr, nc.LocalAddr())
			}
			if _, ok := got.Context().Deadline(); !ok {
				t.Error("the request's context is not the handshake's")
			}
			if n, err := got.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("body read %d, %v; want io.EOF", n, err)
			}
		})
	}
}

// TestUpgradeMalformed sends requests that cannot be read: each must be
// answered at once, without waiting for the handshake's deadline, with
// the status that tells why.
func TestUpgradeMalformed(t *testing.T) {
	tests := []struct {
		name       string
		request    string
		wantStatus int
	}{
		// Exactly the 16 KiB Upgrade reads, so none is left unread
		// when the server closes.
		{"head too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 16<<10-len("GET / HTTP/1.1\r\nHost: h\r\nX: ")), 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: y\r\n", 64) + "\r\n", 431},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n \r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 400},
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},
	}
	s := startUpgradeServer(t, time.Minute, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", s.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(nc, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || len(body) == 0 || !resp.Close {
				t.Errorf("status %d body %q, close %v; want %d with an explanation, closing", resp.StatusCode, body, resp.Close, tt.wantStatus)
			}
			if r := s.result(t); !errors.Is(r.err, wsx.ErrHandshake) || r.req != nil {
				t.Errorf("Upgrade returned %v, %v; want no request and an error wrapping ErrHandshake", r.req, r.err)
			}
		})
	}
}

// TestUpgradeByteByByte sends a request longer than Upgrade's first
// buffer a byte at a time, with a frame after it: Upgrade must read it
// whole, and leave the frame to the connection.
func TestUpgradeByteByByte(t *testing.T) {
	srv, cl := net.Pipe()
	defer cl.Close()
	request := "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Cookie: " + strings.Repeat("a=bcdefgh; ", 500) + "z=0\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" +
		string(rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, Payload: []byte("early"), Masked: true, Key: [4]byte{1, 2, 3, 4}}))
	go func() {
		for i := range len(request) {
			if _, err := io.WriteString(cl, request[i:i+1]); err != nil {
				return
			}
		}
	}()
	type result struct {
		c   *wsx.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := wsx.Upgrade(ctx, srv, nil)
		done <- result{c, err}
	}()
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(cl), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("response %v, %v; want 101", resp, err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if typ, p, err := r.c.Read(ctx); err != nil || typ != wsx.MessageText || string(p) != "early" {
		t.Fatalf("read %v %q %v; want the text \"early\"", typ, p, err)
	}
}
