package wsx_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
