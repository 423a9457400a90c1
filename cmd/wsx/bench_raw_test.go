package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// rawScript is how a scriptedServer answers each connection.
type rawScript struct {
	status    string                  // the status line; empty: 101
	accept    func(key string) string // the Sec-WebSocket-Accept for a key; nil: the right one
	extra     string                  // more header lines, each ending in CRLF
	closeWith []byte                  // the close frame answering the client's; nil: none, just close
	silent    bool                    // never answer the request
	raw       string                  // the whole answer instead, before closing
}

// scriptedServer is a WebSocket server written out byte by byte, to
// check what a client sends and to answer it in ways a library would not.
type scriptedServer struct {
	url      string
	mu       sync.Mutex
	requests []string // each request head
	closes   [][]byte // each close frame the client sent, as sent
	peers    []string
}

func newScriptedServer(t *testing.T, script rawScript) *scriptedServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedServer{url: "ws://" + ln.Addr().String() + "/path?q=1"}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				s.serve(nc, script, done)
			}()
		}
	}()
	return s
}

func (s *scriptedServer) serve(nc net.Conn, script rawScript, done <-chan struct{}) {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	var head []byte
	key := ""
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		head = append(head, line...)
		if k, ok := strings.CutPrefix(string(line), "Sec-WebSocket-Key: "); ok {
			key = strings.TrimSpace(k)
		}
		if string(line) == "\r\n" {
			break
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, string(head))
	s.peers = append(s.peers, nc.RemoteAddr().String())
	s.mu.Unlock()
	if script.silent {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return
	}
	if script.raw != "" {
		io.WriteString(nc, script.raw)
		return
	}
	status := script.status
	if status == "" {
		status = "HTTP/1.1 101 Switching Protocols"
	}
	accept := rawAcceptFor(key)
	if script.accept != nil {
		accept = script.accept(key)
	}
	io.WriteString(nc, status+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n"+script.extra+"\r\n")
	if !strings.Contains(status, " 101 ") {
		return
	}
	frame := make([]byte, 8)
	if _, err := io.ReadFull(br, frame); err != nil {
		return
	}
	s.mu.Lock()
	s.closes = append(s.closes, frame)
	s.mu.Unlock()
	if script.closeWith != nil {
		nc.Write(script.closeWith)
	}
}

func rawAcceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// closeFrame1000 is a server's close frame with status 1000.
var closeFrame1000 = []byte{0x88, 0x02, 0x03, 0xe8}

// keyless replaces the value of Sec-WebSocket-Key in a request head.
func keyless(head string) string {
	i := strings.Index(head, "Sec-WebSocket-Key: ")
	if i < 0 {
		return head
	}
	i += len("Sec-WebSocket-Key: ")
	j := strings.Index(head[i:], "\r\n")
	return head[:i] + "KEY" + head[i+j:]
}

func TestBenchConnectRawWire(t *testing.T) {
	s := newScriptedServer(t, rawScript{closeWith: closeFrame1000})
	// What wsx.Dial sends, for comparison.
	c, _, err := wsx.Dial(context.Background(), s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(wsx.StatusNormalClosure, "")
	s.mu.Lock()
	want := keyless(s.requests[0])
	s.requests = nil
	s.closes = nil
	s.mu.Unlock()

	code, stdout, stderr := runBenchCmd(t, context.Background(), "connect", "-c", "3", "-d", "300ms", "--warmup", "0s", "--json", s.url)
	if code != 0 {
		t.Fatalf("exit status %d\n%s%s", code, stdout, stderr)
	}
	res := decodeJSON[connectResult](t, stdout)
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Handshakes < 3 || res.Errors != 0 || int64(len(s.requests)) < res.Handshakes {
		t.Fatalf("result %+v, %d requests on the server", res, len(s.requests))
	}
	keys := map[string]bool{}
	for i, req := range s.requests {
		if got := keyless(req); got != want {
			t.Fatalf("request %d:\n%q\nwsx.Dial sends\n%q", i, got, want)
		}
		key := req[strings.Index(req, "Sec-WebSocket-Key: ")+19:]
		key = key[:strings.Index(key, "\r\n")]
		if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 || keys[key] {
			t.Fatalf("request %d: key %q is not 16 fresh bytes in base64", i, key)
		}
		keys[key] = true
	}
	for i, f := range s.closes {
		if f[0] != 0x88 || f[1] != 0x82 {
			t.Fatalf("close frame %d starts % x, want a masked close frame with 2 bytes of payload", i, f[:2])
		}
		if code := binary.BigEndian.Uint16([]byte{f[6] ^ f[2], f[7] ^ f[3]}); code != 1000 {
			t.Fatalf("close frame %d has status %d", i, code)
		}
	}
}

// TestBenchConnectRawFailures checks that each way a server can get a
// handshake or its close wrong is an error of the run.
func TestBenchConnectRawFailures(t *testing.T) {
	tests := []struct {
		name   string
		script rawScript
		args   []string
		want   string
		opened bool // the opening handshake itself succeeds
	}{
		{"wrong accept", rawScript{accept: func(string) string { return rawAcceptFor("something else") }, closeWith: closeFrame1000},
			nil, "Sec-WebSocket-Accept is ", false},
		{"refused", rawScript{status: "HTTP/1.1 403 Forbidden"}, nil, "server refused the WebSocket upgrade: 403 Forbidden", false},
		{"not HTTP", rawScript{status: "SSH-2.0-OpenSSH_9.6"}, nil, "malformed response status line", false},
		{"extension", rawScript{extra: "Sec-WebSocket-Extensions: permessage-deflate\r\n", closeWith: closeFrame1000},
			nil, `server chose extension "permessage-deflate"`, false},
		{"subprotocol", rawScript{extra: "Sec-WebSocket-Protocol: chat\r\n", closeWith: closeFrame1000},
			nil, `server chose subprotocol "chat"`, false},
		{"no response", rawScript{silent: true}, []string{"--timeout", "100ms"}, "no handshake response after 100ms", false},
		{"no close frame", rawScript{}, nil, "close: no close frame from the server: connection closed", true},
		{"response cut off", rawScript{raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"}, nil,
			"read handshake response: connection closed", false},
		{"close frame cut off", rawScript{closeWith: []byte{0x88, 0x02, 0x03}}, nil, "close: no close frame from the server: connection closed", true},
		{"close 1001", rawScript{closeWith: []byte{0x88, 0x02, 0x03, 0xe9}}, nil, "status 1001 (going away), want 1000", true},
		{"close without status", rawScript{closeWith: []byte{0x88, 0x00}}, nil, "close frame has no status", true},
		{"masked close", rawScript{closeWith: []byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}}, nil, "masked frame from the server", true},
		// Through wsx.Dial, which compression calls for.
		{"wrong accept, wsx.Dial", rawScript{accept: func(string) string { return rawAcceptFor("something else") }, closeWith: closeFrame1000},
			[]string{"--compression", "on"}, "wsx: dial: Sec-WebSocket-Accept is ", false},
		{"close 1001, wsx.Dial", rawScript{closeWith: []byte{0x88, 0x02, 0x03, 0xe9}}, []string{"--compression", "on"},
			"status 1001 (going away), want 1000", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScriptedServer(t, tc.script)
			args := append([]string{"connect", "-c", "2", "-d", "300ms", "--warmup", "0s", "--json"}, tc.args...)
			code, stdout, stderr := runBenchCmd(t, context.Background(), append(args, s.url)...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			res := decodeJSON[connectResult](t, stdout)
			if res.Errors < 1 || !strings.Contains(res.FirstError, tc.want) || !strings.Contains(stderr, tc.want) {
				t.Errorf("errors %d, first error %q, want %q\nstderr: %s", res.Errors, res.FirstError, tc.want, stderr)
			}
			if opened := res.Handshakes > 0; opened != tc.opened {
				t.Errorf("%d handshakes counted, want some: %v", res.Handshakes, tc.opened)
			}
		})
	}
}

func TestBenchConnectRawSourceAddrs(t *testing.T) {
	s := newScriptedServer(t, rawScript{closeWith: closeFrame1000})
	code, stdout, stderr := runBenchCmd(t, context.Background(), "connect", "-c", "2", "-d", "200ms", "--warmup", "0s",
		"--source-addrs", "127.0.0.1-127.0.0.3", "--json", s.url)
	if code != 0 {
		t.Fatalf("exit status %d\n%s%s", code, stdout, stderr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hosts := map[string]int{}
	for _, p := range s.peers {
		host, _, _ := net.SplitHostPort(p)
		hosts[host]++
	}
	if len(hosts) != 3 {
		t.Errorf("connections came from %v, want all of 127.0.0.1-3", hosts)
	}
}

func TestPlanRawConnect(t *testing.T) {
	tests := []struct {
		url         string
		compression wsx.CompressionMode
		request     string // the request line and Host; empty: no plan
	}{
		{"ws://127.0.0.1:8080/", wsx.CompressionDisabled, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"},
		{"http://127.0.0.1:8080", wsx.CompressionDisabled, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"},
		{"ws://127.0.0.1/a/b?c=d", wsx.CompressionDisabled, "GET /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1\r\n"},
		{"ws://[::1]:9/", wsx.CompressionDisabled, "GET / HTTP/1.1\r\nHost: [::1]:9\r\n"},
		{"ws://127.0.0.1:8080/", wsx.CompressionNoContextTakeover, ""},
		{"wss://127.0.0.1:8080/", wsx.CompressionDisabled, ""},
		{"https://127.0.0.1:8080/", wsx.CompressionDisabled, ""},
	}
	for _, tc := range tests {
		p := planRawConnect(context.Background(), &benchConfig{url: tc.url, compression: tc.compression, timeout: time.Second})
		switch {
		case tc.request == "" && p != nil:
			t.Errorf("%s, compression %v: the raw client would run", tc.url, tc.compression)
		case tc.request != "" && p == nil:
			t.Errorf("%s: no plan", tc.url)
		case p != nil && !strings.HasPrefix(string(p.request), tc.request):
			t.Errorf("%s: request %q, want it to start %q", tc.url, p.request, tc.request)
		}
	}
}

func TestCheckRawResponse(t *testing.T) {
	const accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
	tests := []struct {
		name, head, want string // want: "" for no error, else part of it
	}{
		{"canonical", ok, ""},
		{"case and lists", "HTTP/1.1 101 x\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept:" + accept + " \r\nServer: s\r\n\r\n", ""},
		{"bare LF", "HTTP/1.1 101\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: " + accept + "\n\n", ""},
		{"HTTP/1.0", strings.Replace(ok, "HTTP/1.1", "HTTP/1.0", 1), ""},
		{"empty extension list", strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: ,\r\n\r\n", 1), ""},
		{"refused", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "refused the WebSocket upgrade: 404 Not Found"},
		{"200", strings.Replace(ok, "101 Switching Protocols", "200 OK", 1), "refused the WebSocket upgrade: 200 OK"},
		{"status line", "HTTP/1.1 1010 Switching\r\n\r\n", "malformed response status line"},
		{"HTTP/2", strings.Replace(ok, "HTTP/1.1", "HTTP/2.0", 1), "malformed response status line"},
		{"header line", strings.Replace(ok, "Connection: Upgrade", "Connection Upgrade", 1), "malformed response header line"},
		{"folded", strings.Replace(ok, "Connection: Upgrade", " Connection: Upgrade", 1), "malformed response header line"},
		{"wrong accept", strings.Replace(ok, accept, "dGhlIHNhbXBsZSBub25jZQ==", 1), "Sec-WebSocket-Accept is \"dGhlIHNhbXBsZSBub25jZQ==\""},
		{"second accept ignored", strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Accept: x\r\n\r\n", 1), ""},
		{"no accept", strings.Replace(ok, "Sec-WebSocket-Accept: "+accept+"\r\n", "", 1), "lacks Sec-WebSocket-Accept"},
		{"no upgrade", strings.Replace(ok, "Upgrade: websocket\r\n", "Upgrade: websockets\r\n", 1), "lacks \"Upgrade: websocket\""},
		{"no connection", strings.Replace(ok, "Connection: Upgrade", "Connection: close", 1), "lacks \"Connection: Upgrade\""},
		{"extension", strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1), "server chose extension"},
		{"subprotocol", strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n", 1), "server chose subprotocol"},
	}
	for _, tc := range tests {
		if end := rawHeadEnd([]byte(tc.head + "after")); end != len(tc.head) {
			t.Errorf("%s: head ends at %d, want %d", tc.name, end, len(tc.head))
			continue
		}
		err := checkRawResponse([]byte(tc.head), []byte(accept))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, partial := range []string{"", "HTTP/1.1 101 x\r\n", ok[:len(ok)-1], ok[:len(ok)-1] + "\r"} {
		if end := rawHeadEnd([]byte(partial)); end != -1 {
			t.Errorf("%q: head ends at %d, want not yet", partial, end)
		}
	}
}

func TestRawFrames(t *testing.T) {
	masked := []byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2}
	long := append([]byte{0x82, 126, 0x01, 0x00}, make([]byte, 256)...)
	tests := []struct {
		name       string
		in         []byte
		maskedEcho bool
		want       string // "" for the close frame found, else part of the error
	}{
		{"close 1000", closeFrame1000, false, ""},
		{"with reason", []byte{0x88, 0x04, 0x03, 0xe8, 'o', 'k'}, false, ""},
		{"after messages and a ping", append(append([]byte{0x81, 0x02, 'h', 'i', 0x89, 0x00}, long...), closeFrame1000...), false, ""},
		{"masked echo", masked, true, ""},
		{"masked", masked, false, "masked frame from the server"},
		{"1001", []byte{0x88, 0x02, 0x03, 0xe9}, false, "status 1001 (going away), want 1000"},
		{"no status", []byte{0x88, 0x00}, false, "no status"},
		{"1-byte payload", []byte{0x88, 0x01, 0x03}, false, "1-byte payload"},
		{"bad reason", []byte{0x88, 0x03, 0x03, 0xe8, 0xff}, false, "not UTF-8"},
		{"reserved bits", []byte{0xc8, 0x02, 0x03, 0xe8}, false, "reserved bits"},
		{"unknown opcode", []byte{0x83, 0x00}, false, "unknown opcode 3"},
		{"fragmented close", []byte{0x08, 0x02, 0x03, 0xe8}, false, "fragmented or long control frame"},
	}
	for _, tc := range tests {
		// Whole, and then a byte at a time.
		for _, step := range []int{len(tc.in), 1} {
			f := rawFrames{maskedEcho: tc.maskedEcho}
			var held []byte
			var closed bool
			var err error
			for i := 0; i < len(tc.in) && !closed && err == nil; i += step {
				held = append(held, tc.in[i:min(i+step, len(tc.in))]...)
				var used int
				used, closed, err = f.scan(held)
				held = held[used:]
			}
			switch {
			case tc.want == "" && (err != nil || !closed || len(held) != 0):
				t.Errorf("%s, %d at a time: closed %v, %v, %d bytes left", tc.name, step, closed, err, len(held))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("%s, %d at a time: error %v, want %q", tc.name, step, err, tc.want)
			}
		}
	}
	f := rawFrames{}
	if used, closed, err := f.scan([]byte{0x82, 0x05, 1, 2}); used != 4 || closed || err != nil || f.skip != 3 {
		t.Errorf("a message cut short: used %d, closed %v, %v, %d to skip; want 4, 3 to skip", used, closed, err, f.skip)
	}
}

func TestRawKeys(t *testing.T) {
	k := newRawKeys()
	seen := map[[rawKeyLen]byte]bool{}
	var key [rawKeyLen]byte
	var accept [rawAcceptLen]byte
	for range 100 {
		k.next(&key, &accept)
		raw, err := base64.StdEncoding.DecodeString(string(key[:]))
		if err != nil || len(raw) != 16 || seen[key] {
			t.Fatalf("key %q is not 16 fresh bytes in base64", key)
		}
		seen[key] = true
		if want := rawAcceptFor(string(key[:])); string(accept[:]) != want {
			t.Fatalf("accept for %q is %q, want %q", key, accept, want)
		}
	}
	var f [8]byte
	k.closeFrame(&f)
	if f[0] != 0x88 || f[1] != 0x82 || f[6]^f[2] != 0x03 || f[7]^f[3] != 0xe8 {
		t.Errorf("close frame % x", f)
	}
	// The work of a handshake allocates nothing.
	head := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	frames := rawFrames{}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		k.next(&key, &accept)
		resp := append(append(append(buf[:0], head...), accept[:]...), "\r\n\r\n"...)
		if end := rawHeadEnd(resp); end != len(resp) || checkRawResponse(resp[:end], accept[:]) != nil {
			t.Fatal("response does not check")
		}
		k.closeFrame(&f)
		if _, closed, err := frames.scan(closeFrame1000); !closed || err != nil {
			t.Fatal("close frame does not check")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per handshake", allocs)
	}
}
