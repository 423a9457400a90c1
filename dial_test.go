package wsx_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// wsURLOf turns an httptest server's URL into a ws:// or wss:// URL.
func wsURLOf(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// echoAccept returns a handler that accepts WebSocket connections with
// opts and echoes every message until the connection ends.
func echoAccept(t *testing.T, opts *wsx.AcceptOptions) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
}

// echoOnce sends msg on c and checks that it comes back.
func echoOnce(t *testing.T, c *wsx.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, wsx.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != wsx.MessageText || string(got) != msg {
		t.Fatalf("read %v %q %v, want text %q", typ, got, err, msg)
	}
}

// closeConn performs the closing handshake and fails the test if it does
// not complete.
func closeConn(t *testing.T, c *wsx.Conn) {
	t.Helper()
	if err := c.Close(wsx.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

// newSelfSignedCert makes a self-signed certificate for names (DNS names
// or IP addresses) and a pool that trusts it.
func newSelfSignedCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "wsx test " + strings.Join(names, " ")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startTLSServer starts an HTTPS test server that presents cert.
func startTLSServer(t *testing.T, h http.Handler, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Refused handshakes are expected; keep them out of the test log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// dialOnly127 is a NetDialContext that maps the host names in names to
// 127.0.0.1 and refuses every address that is not 127.0.0.1.
func dialOnly127(names ...string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if strings.EqualFold(host, n) {
				host = "127.0.0.1"
			}
		}
		if host != "127.0.0.1" {
			return nil, fmt.Errorf("test dialer: refusing to connect to %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}

// rawHandshakeServer answers every connection's request with the response
// that respond builds from the request and the accept value its key calls
// for, then discards input until the client closes.
func rawHandshakeServer(t *testing.T, respond func(r *http.Request, accept string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				io.WriteString(conn, respond(r, base64.StdEncoding.EncodeToString(h[:])))
				io.Copy(io.Discard, br)
			})
		}
	})
	return ln.Addr().String()
}

// testCtx returns a context that ends with the test or after 10 seconds.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDial(t *testing.T) {
	srv := httptest.NewServer(echoAccept(t, nil))
	t.Cleanup(srv.Close)
	for _, scheme := range []string{"ws", "http", "WS"} {
		t.Run(scheme, func(t *testing.T) {
			url := scheme + strings.TrimPrefix(srv.URL, "http") + "/echo?x=1"
			c, resp, err := wsx.Dial(testCtx(t), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn(t, c)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Errorf("status %d, want 101", resp.StatusCode)
			}
			if resp.Header.Get("Sec-WebSocket-Accept") == "" || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
				t.Errorf("response header %v lacks the upgrade headers", resp.Header)
			}
			if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
				t.Errorf("101 body %q %v, want empty", b, err)
			}
			if got, want := c.RemoteAddr().String(), srv.Listener.Addr().String(); got != want {
				t.Errorf("RemoteAddr %s, want %s", got, want)
			}
			echoOnce(t, c, "hello")
		})
	}
}

// TestDialContextAfterDial checks that the context given to Dial does not
// affect the connection once Dial has returned.
func TestDialContextAfterDial(t *testing.T) {
	srv := httptest.NewServer(echoAccept(t, nil))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, _, err := wsx.Dial(ctx, wsURLOf(srv), nil)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, c)
	time.Sleep(10 * time.Millisecond)
	echoOnce(t, c, "still here")
}

func TestDialRefused(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		header     http.Header
		wantStatus int
		wantHeader [2]string
		wantBody   string
	}{
		{
			name: "401 with a header and a body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wsx"`)
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, "token required")
			},
			wantStatus: 401,
			wantHeader: [2]string{"WWW-Authenticate", `Bearer realm="wsx"`},
			wantBody:   "token required",
		},
		{
			name: "plain HTTP server",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			},
			wantStatus: 200,
			wantBody:   "hello",
		},
		{
			name: "redirect is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			wantStatus: 302,
			wantHeader: [2]string{"Location", "/elsewhere"},
		},
		{
			name:       "Accept refuses the origin",
			handler:    echoAccept(t, nil).ServeHTTP,
			header:     http.Header{"Origin": {"https://evil.example.net"}},
			wantStatus: 403,
			wantBody:   "origin not allowed",
		},
		{
			name: "body kept up to 64 KiB",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, big)
			},
			wantStatus: 503,
			wantBody:   big[:64<<10],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			c, resp, err := wsx.Dial(testCtx(t), wsURLOf(srv), &wsx.DialOptions{HTTPHeader: tt.header})
			if c != nil {
				c.CloseNow()
				t.Fatal("Dial returned a connection")
			}
			if !errors.Is(err, wsx.ErrHandshake) {
				t.Fatalf("error %v does not wrap ErrHandshake", err)
			}
			if resp == nil {
				t.Fatal("Dial returned no response")
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.wantStatus)) {
				t.Errorf("error %q does not name the status", err)
			}
			if k := tt.wantHeader[0]; k != "" && resp.Header.Get(k) != tt.wantHeader[1] {
				t.Errorf("%s: %q, want %q", k, resp.Header.Get(k), tt.wantHeader[1])
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if tt.name == "body kept up to 64 KiB" {
				if string(body) != tt.wantBody {
					t.Errorf("body of %d bytes, want %d", len(body), len(tt.wantBody))
				}
			} else if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body %q does not contain %q", body, tt.wantBody)
			}
			resp.Body.Close()
		})
	}
}

func TestDialBadResponse(t *testing.T) {
	ok := func(extra string) func(*http.Request, string) string {
		return func(r *http.Request, accept string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n" + extra + "\r\n"
		}
	}
	tests := []struct {
		name         string
		respond      func(*http.Request, string) string
		subprotocols []string
		wantErr      string // "" for success
		wantResp     bool   // a response comes back with the error
	}{
		{name: "valid", respond: ok("")},
		{name: "valid, header case and token lists", respond: func(r *http.Request, accept string) string {
			return "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: " + accept + "\r\n\r\n"
		}},
		{name: "valid, offered subprotocol", respond: ok("Sec-WebSocket-Protocol: b\r\n"), subprotocols: []string{"a", "b"}},
		{
			name: "wrong accept value",
			respond: func(r *http.Request, accept string) string {
				return ok("")(r, rfcSampleAccept)
			},
			wantErr: "Sec-WebSocket-Accept", wantResp: true,
		},
		{
			name: "no accept value",
			respond: func(r *http.Request, accept string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
			},
			wantErr: "Sec-WebSocket-Accept", wantResp: true,
		},
		{
			name: "no Upgrade",
			respond: func(r *http.Request, accept string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
			},
			wantErr: "Upgrade", wantResp: true,
		},
		{
			name: "Upgrade to another protocol",
			respond: func(r *http.Request, accept string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
			},
			wantErr: "Upgrade", wantResp: true,
		},
		{
			name: "no Connection",
			respond: func(r *http.Request, accept string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
			},
			wantErr: "Connection", wantResp: true,
		},
		{name: "subprotocol not offered", respond: ok("Sec-WebSocket-Protocol: c\r\n"), subprotocols: []string{"a", "b"}, wantErr: "not offered", wantResp: true},
		{name: "subprotocol when none offered", respond: ok("Sec-WebSocket-Protocol: a\r\n"), wantErr: "not offered", wantResp: true},
		{name: "two subprotocols", respond: ok("Sec-WebSocket-Protocol: a, b\r\n"), subprotocols: []string{"a", "b"}, wantErr: "subprotocol", wantResp: true},
		{name: "extension not offered", respond: ok("Sec-WebSocket-Extensions: x-wsx-test\r\n"), wantErr: "x-wsx-test", wantResp: true},
		{name: "permessage-deflate not offered", respond: ok("Sec-WebSocket-Extensions: permessage-deflate\r\n"), wantErr: "permessage-deflate", wantResp: true},
		{
			name:    "not HTTP",
			respond: func(*http.Request, string) string { return "SSH-2.0-OpenSSH_9.2\r\n\r\n" },
			wantErr: "wsx: dial",
		},
		{
			name:    "connection closed without an answer",
			respond: nil,
			wantErr: "wsx: dial",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			if tt.respond == nil {
				addr = hangUpServer(t)
			} else {
				addr = rawHandshakeServer(t, tt.respond)
			}
			c, resp, err := wsx.Dial(testCtx(t), "ws://"+addr+"/", &wsx.DialOptions{Subprotocols: tt.subprotocols})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.CloseNow()
				if len(tt.subprotocols) > 0 && c.Subprotocol() != "b" {
					t.Errorf("Subprotocol() = %q, want b", c.Subprotocol())
				}
				return
			}
			if c != nil {
				c.CloseNow()
				t.Fatal("Dial returned a connection")
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			if tt.wantResp {
				if !errors.Is(err, wsx.ErrHandshake) {
					t.Errorf("error %v does not wrap ErrHandshake", err)
				}
				if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
					t.Errorf("response %v, want the 101 that was refused", resp)
				}
			}
		})
	}
}

// hangUpServer accepts connections, reads the request and hangs up.
func hangUpServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			http.ReadRequest(bufio.NewReader(conn))
			conn.Close()
		}
	})
	return ln.Addr().String()
}

func TestDialHeaders(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(context.Background())
		echoAccept(t, nil).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	header := http.Header{
		"Authorization":            {"Bearer t0ken"},
		"Origin":                   {"http://" + srv.Listener.Addr().String()},
		"Cookie":                   {"a=1"},
		"X-Trace":                  {"one", "two"},
		"Sec-Websocket-Key":        {"AAAAAAAAAAAAAAAAAAAAAA=="},
		"Sec-Websocket-Version":    {"8"},
		"Sec-Websocket-Extensions": {"x-wsx-test"},
		"Upgrade":                  {"h2c"},
		"Host":                     {"evil.example.net"},
	}
	before := header.Clone()
	opts := &wsx.DialOptions{HTTPHeader: header}
	c, _, err := wsx.Dial(testCtx(t), wsURLOf(srv)+"/chat?room=1", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, c)
	r := <-got
	for k, want := range map[string]string{
		"Authorization": "Bearer t0ken",
		"Origin":        "http://" + srv.Listener.Addr().String(),
		"Cookie":        "a=1",
		"Upgrade":       "websocket",
	} {
		if v := r.Header.Values(k); len(v) != 1 || v[0] != want {
			t.Errorf("server got %s %q, want [%q]", k, v, want)
		}
	}
	if v := r.Header.Values("X-Trace"); len(v) != 2 || v[0] != "one" || v[1] != "two" {
		t.Errorf("server got X-Trace %q, want [one two]", v)
	}
	if v := r.Header.Values("Sec-WebSocket-Key"); len(v) != 1 || v[0] == "AAAAAAAAAAAAAAAAAAAAAA==" {
		t.Errorf("server got Sec-WebSocket-Key %q, want one key of Dial's own", v)
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		t.Errorf("server got Sec-WebSocket-Version %q, want [13]", v)
	}
	if v := r.Header.Values("Sec-WebSocket-Extensions"); len(v) != 0 {
		t.Errorf("server got Sec-WebSocket-Extensions %q, want none", v)
	}
	if r.Host != srv.Listener.Addr().String() {
		t.Errorf("server got Host %q, want %q", r.Host, srv.Listener.Addr())
	}
	if r.URL.RequestURI() != "/chat?room=1" {
		t.Errorf("server got request URI %q, want /chat?room=1", r.URL.RequestURI())
	}
	if fmt.Sprint(header) != fmt.Sprint(before) {
		t.Errorf("Dial modified DialOptions.HTTPHeader: %v, was %v", header, before)
	}
	echoOnce(t, c, "x")
}

func TestDialSubprotocol(t *testing.T) {
	tests := []struct {
		name   string
		server []string
		client []string
		want   string
	}{
		{"server preference wins", []string{"v2", "v1"}, []string{"v1", "v2"}, "v2"},
		{"only common one", []string{"v2", "v1"}, []string{"v1", "v0"}, "v1"},
		{"none in common", []string{"v2"}, []string{"v1"}, ""},
		{"client offers none", []string{"v2"}, nil, ""},
		{"server speaks none", nil, []string{"v1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverProto := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := wsx.Accept(w, r, &wsx.AcceptOptions{Subprotocols: tt.server})
				if err != nil {
					serverProto <- "error: " + err.Error()
					return
				}
				serverProto <- c.Subprotocol()
				c.Read(context.Background())
				c.CloseNow()
			}))
			t.Cleanup(srv.Close)
			c, resp, err := wsx.Dial(testCtx(t), wsURLOf(srv), &wsx.DialOptions{Subprotocols: tt.client})
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn(t, c)
			if c.Subprotocol() != tt.want {
				t.Errorf("client Subprotocol() = %q, want %q", c.Subprotocol(), tt.want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want {
				t.Errorf("response Sec-WebSocket-Protocol %q, want %q", got, tt.want)
			}
			if got := <-serverProto; got != tt.want {
				t.Errorf("server Subprotocol() = %q, want %q", got, tt.want)
			}
		})
	}
}

// silentServer accepts TCP connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { io.Copy(io.Discard, conn) })
		}
	})
	return ln.Addr().String()
}

func TestDialContextBounds(t *testing.T) {
	addr := silentServer(t)
	errCause := errors.New("caller gave up")
	tests := []struct {
		name    string
		url     string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{
			name: "deadline, handshake never answered",
			url:  "ws://" + addr + "/",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "deadline, TLS handshake never answered",
			url:  "wss://" + addr + "/",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "cancelled",
			url:  "ws://" + addr + "/",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(200*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
		{
			name: "cancelled with a cause",
			url:  "ws://" + addr + "/",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancelCause(context.Background())
				time.AfterFunc(200*time.Millisecond, func() { cancel(errCause) })
				return ctx, func() { cancel(nil) }
			},
			wantErr: errCause,
		},
		{
			name: "already cancelled",
			url:  "ws://" + addr + "/",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			c, resp, err := wsx.Dial(ctx, tt.url, nil)
			elapsed := time.Since(start)
			if c != nil {
				c.CloseNow()
				t.Fatal("Dial returned a connection")
			}
			if resp != nil {
				t.Errorf("Dial returned a response: %v", resp.Status)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want one wrapping %v", err, tt.wantErr)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Dial took %v", elapsed)
			}
		})
	}
}

func TestDialBadURL(t *testing.T) {
	opts := &wsx.DialOptions{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t.Errorf("Dial connected to %s", addr)
			return nil, errors.New("no connection expected")
		},
	}
	for _, url := range []string{
		"ftp://127.0.0.1/",
		"127.0.0.1:80",
		"ws:///path",
		"ws://",
		"ws://127.0.0.1:1/#fragment",
		"ws://[::1",
		"ws://127.0.0.1:1/%zz",
	} {
		t.Run(url, func(t *testing.T) {
			c, resp, err := wsx.Dial(context.Background(), url, opts)
			if c != nil || resp != nil || err == nil {
				t.Fatalf("Dial(%q) = %v, %v, %v; want an error", url, c, resp, err)
			}
			if !strings.HasPrefix(err.Error(), "wsx: dial") {
				t.Errorf("error %q lacks the wsx: dial prefix", err)
			}
		})
	}
}

func TestDialTLS(t *testing.T) {
	cert, pool := newSelfSignedCert(t, "127.0.0.1", "wsx.test")
	srv := startTLSServer(t, echoAccept(t, nil), cert)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	otherCert, otherPool := newSelfSignedCert(t, "other.test")
	otherSrv := startTLSServer(t, echoAccept(t, nil), otherCert)
	otherPort := otherSrv.Listener.Addr().(*net.TCPAddr).Port

	var unknownCA x509.UnknownAuthorityError
	var wrongHost x509.HostnameError
	tests := []struct {
		name    string
		url     string
		opts    *wsx.DialOptions
		wantErr any // pointer to an error type for errors.As, or nil
	}{
		{name: "wss, trusted", url: fmt.Sprintf("wss://127.0.0.1:%d/", port), opts: &wsx.DialOptions{TLSConfig: &tls.Config{RootCAs: pool}}},
		{name: "https synonym", url: fmt.Sprintf("https://127.0.0.1:%d/", port), opts: &wsx.DialOptions{TLSConfig: &tls.Config{RootCAs: pool}}},
		{
			name: "name from the URL",
			url:  fmt.Sprintf("wss://wsx.test:%d/", port),
			opts: &wsx.DialOptions{TLSConfig: &tls.Config{RootCAs: pool}, NetDialContext: dialOnly127("wsx.test")},
		},
		{
			name: "ServerName from the config",
			url:  fmt.Sprintf("wss://127.0.0.1:%d/", otherPort),
			opts: &wsx.DialOptions{TLSConfig: &tls.Config{RootCAs: otherPool, ServerName: "other.test"}},
		},
		{name: "untrusted", url: fmt.Sprintf("wss://127.0.0.1:%d/", port), opts: nil, wantErr: &unknownCA},
		{name: "trusting another certificate", url: fmt.Sprintf("wss://127.0.0.1:%d/", port), opts: &wsx.DialOptions{TLSConfig: &tls.Config{RootCAs: otherPool}}, wantErr: &unknownCA},
		{name: "wrong name", url: fmt.Sprintf("wss://127.0.0.1:%d/", otherPort), opts: &wsx.DialOptions{TLSConfig: &tls.Config{RootCAs: otherPool}}, wantErr: &wrongHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before string
			if tt.opts != nil && tt.opts.TLSConfig != nil {
				before = tt.opts.TLSConfig.ServerName
			}
			c, _, err := wsx.Dial(testCtx(t), tt.url, tt.opts)
			if tt.opts != nil && tt.opts.TLSConfig != nil && tt.opts.TLSConfig.ServerName != before {
				t.Errorf("Dial modified TLSConfig.ServerName to %q", tt.opts.TLSConfig.ServerName)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer closeConn(t, c)
				echoOnce(t, c, "over TLS")
				return
			}
			if c != nil {
				c.CloseNow()
				t.Fatal("Dial returned a connection")
			}
			if !errors.As(err, tt.wantErr) {
				t.Fatalf("error %v (%T), want %T", err, err, tt.wantErr)
			}
		})
	}
}

// TestDialDataAfterHandshake checks that bytes the server sends right after
// its 101, in the same packet, are not lost.
func TestDialDataAfterHandshake(t *testing.T) {
	addr := rawHandshakeServer(t, func(r *http.Request, accept string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n" +
			"\x81\x05early" + "\x82\x03" + "\x01\x02\x03"
	})
	ctx := testCtx(t)
	c, _, err := wsx.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != wsx.MessageText || string(msg) != "early" {
		t.Fatalf("first message %v %q %v, want text \"early\"", typ, msg, err)
	}
	typ, msg, err = c.Read(ctx)
	if err != nil || typ != wsx.MessageBinary || !bytes.Equal(msg, []byte{1, 2, 3}) {
		t.Fatalf("second message %v %q %v, want binary 01 02 03", typ, msg, err)
	}
}
