package wsx_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// proxyTargetName is a host name that only the test proxy and the test
// dialer know: both map it to 127.0.0.1.
const proxyTargetName = "wsx-target.test"

// connectProxy is an HTTP CONNECT proxy (RFC 9110 §9.3.6) that requires
// Basic credentials user:pass and tunnels only to 127.0.0.1.
type connectProxy struct {
	addr   string
	refuse int  // if not 0, the status every CONNECT is answered with
	eager  bool // send tunnel bytes along with the 200, before the client speaks

	mu      sync.Mutex
	targets []string // CONNECT targets, in order
	conns   []net.Conn
	wg      sync.WaitGroup
}

// startConnectProxy starts a proxy, speaking TLS with cert if cert is not
// nil, and sets it up with configure before it accepts connections.
func startConnectProxy(t *testing.T, cert *tls.Certificate, configure func(*connectProxy)) *connectProxy {
	t.Helper()
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String()}
	if configure != nil {
		configure(p)
	}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.track(conn)
			p.wg.Go(func() { p.serve(conn) })
		}
	})
	return p
}

// url returns the proxy's URL with the given user information (nil for
// none).
func (p *connectProxy) url(scheme string, user *url.Userinfo) *url.URL {
	return &url.URL{Scheme: scheme, Host: p.addr, User: user}
}

func (p *connectProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

// seen returns the CONNECT targets received so far.
func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

func (p *connectProxy) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	answer := func(status int, extra string) {
		fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n\r\n", status, http.StatusText(status), extra)
	}
	if req.Method != http.MethodConnect {
		answer(http.StatusMethodNotAllowed, "")
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.RequestURI)
	p.mu.Unlock()
	if req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("user:pass")) {
		answer(http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"wsx-test\"\r\n")
		return
	}
	if p.refuse != 0 {
		answer(p.refuse, "")
		return
	}
	host, port, err := net.SplitHostPort(req.RequestURI)
	if err != nil {
		answer(http.StatusBadRequest, "")
		return
	}
	if host == proxyTargetName {
		host = "127.0.0.1"
	}
	if host != "127.0.0.1" {
		answer(http.StatusBadGateway, "")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		answer(http.StatusBadGateway, "")
		return
	}
	p.track(target)
	defer target.Close()
	established := "HTTP/1.1 200 Connection Established\r\n\r\n"
	if p.eager {
		established += "\x81\x02hi"
	}
	if _, err := io.WriteString(conn, established); err != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		// br holds whatever the client sent after the CONNECT request.
		io.Copy(target, br)
		target.Close()
		close(done)
	}()
	io.Copy(conn, target)
	conn.Close()
	<-done
}

func TestProxy(t *testing.T) {
	cert, pool := newSelfSignedCert(t, "127.0.0.1")
	plain := httptest.NewServer(echoAccept(t, nil))
	t.Cleanup(plain.Close)
	secure := startTLSServer(t, echoAccept(t, nil), cert)

	creds := url.UserPassword("user", "pass")
	tests := []struct {
		name       string
		proxyTLS   bool
		configure  func(*connectProxy)
		user       *url.Userinfo
		scheme     string // of the proxy URL; default from proxyTLS
		target     *httptest.Server
		wantErr    string   // "" for success
		wantAbsent []string // strings the error must not contain
	}{
		{name: "ws through an HTTP proxy", user: creds, target: plain},
		{name: "wss through an HTTP proxy", user: creds, target: secure},
		{name: "ws through an HTTPS proxy", proxyTLS: true, user: creds, target: plain},
		{name: "wss through an HTTPS proxy", proxyTLS: true, user: creds, target: secure},
		{name: "no credentials", target: plain, wantErr: "407"},
		{
			name: "wrong password", user: url.UserPassword("user", "s3cret-wrong"), target: plain,
			wantErr: "407", wantAbsent: []string{"s3cret-wrong"},
		},
		{name: "wrong credentials over TLS", proxyTLS: true, user: url.UserPassword("nobody", "pass"), target: plain, wantErr: "407"},
		{name: "proxy refuses", user: creds, target: plain, configure: func(p *connectProxy) { p.refuse = http.StatusForbidden }, wantErr: "403"},
		{name: "proxy answers early", user: creds, target: plain, configure: func(p *connectProxy) { p.eager = true }, wantErr: "before the tunnel"},
		{name: "unsupported proxy scheme", scheme: "socks5", user: creds, target: plain, wantErr: "socks5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var proxyCert *tls.Certificate
			scheme := "http"
			if tt.proxyTLS {
				proxyCert = &cert
				scheme = "https"
			}
			if tt.scheme != "" {
				scheme = tt.scheme
			}
			p := startConnectProxy(t, proxyCert, tt.configure)
			opts := &wsx.DialOptions{
				Proxy:          http.ProxyURL(p.url(scheme, tt.user)),
				TLSConfig:      &tls.Config{RootCAs: pool},
				NetDialContext: dialOnly127(),
			}
			targetURL := wsURLOf(tt.target)
			c, resp, err := wsx.Dial(testCtx(t), targetURL, opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer closeConn(t, c)
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Errorf("status %d, want 101", resp.StatusCode)
				}
				echoOnce(t, c, "through the tunnel")
				if got, want := p.seen(), []string{tt.target.Listener.Addr().String()}; !slices.Equal(got, want) {
					t.Errorf("proxy saw CONNECT %q, want %q", got, want)
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
			for _, s := range tt.wantAbsent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q", err, s)
				}
			}
		})
	}
}

// TestProxyTargetsNotDialed checks that with a proxy, Dial connects only
// to the proxy: a target the proxy will not reach fails with the proxy's
// answer.
func TestProxyTargetsNotDialed(t *testing.T) {
	p := startConnectProxy(t, nil, nil)
	var dialed []string
	opts := &wsx.DialOptions{
		Proxy: http.ProxyURL(p.url("http", url.UserPassword("user", "pass"))),
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return dialOnly127()(ctx, network, addr)
		},
	}
	_, _, err := wsx.Dial(testCtx(t), "ws://192.0.2.1:8080/", opts)
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("error %v, want the proxy's 502", err)
	}
	if !slices.Equal(dialed, []string{p.addr}) {
		t.Errorf("dialed %q, want only the proxy %s", dialed, p.addr)
	}
	if got := p.seen(); !slices.Equal(got, []string{"192.0.2.1:8080"}) {
		t.Errorf("proxy saw CONNECT %q", got)
	}
}

// TestProxyFunc checks what the Proxy function is given and how its
// results are used.
func TestProxyFunc(t *testing.T) {
	plain := httptest.NewServer(echoAccept(t, nil))
	t.Cleanup(plain.Close)
	errNoProxy := errors.New("proxy lookup failed")
	tests := []struct {
		name    string
		url     string
		result  func(p *connectProxy) (*url.URL, error)
		wantReq string // the URL the function is given
		wantErr error
		proxied bool
	}{
		{
			name:    "ws is looked up as http",
			url:     wsURLOf(plain) + "/path?q=1",
			result:  func(p *connectProxy) (*url.URL, error) { return p.url("http", url.UserPassword("user", "pass")), nil },
			wantReq: "http://" + plain.Listener.Addr().String() + "/path?q=1",
			proxied: true,
		},
		{
			name:    "nil URL connects directly",
			url:     wsURLOf(plain),
			result:  func(*connectProxy) (*url.URL, error) { return nil, nil },
			wantReq: plain.URL,
		},
		{
			name:    "error",
			url:     wsURLOf(plain),
			result:  func(*connectProxy) (*url.URL, error) { return nil, errNoProxy },
			wantReq: plain.URL,
			wantErr: errNoProxy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startConnectProxy(t, nil, nil)
			var gotReq string
			opts := &wsx.DialOptions{
				Proxy: func(r *http.Request) (*url.URL, error) {
					gotReq = r.URL.String()
					return tt.result(p)
				},
				NetDialContext: dialOnly127(),
			}
			c, _, err := wsx.Dial(testCtx(t), tt.url, opts)
			if gotReq != tt.wantReq {
				t.Errorf("Proxy given %q, want %q", gotReq, tt.wantReq)
			}
			if tt.wantErr != nil {
				if c != nil {
					c.CloseNow()
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn(t, c)
			echoOnce(t, c, "x")
			if got := len(p.seen()) > 0; got != tt.proxied {
				t.Errorf("proxied %v, want %v", got, tt.proxied)
			}
		})
	}
}

func TestProxyWSSSchemeSeen(t *testing.T) {
	var got string
	opts := &wsx.DialOptions{
		Proxy: func(r *http.Request) (*url.URL, error) {
			got = r.URL.Scheme
			return nil, errors.New("stop here")
		},
	}
	wsx.Dial(context.Background(), "wss://127.0.0.1:1/", opts)
	if got != "https" {
		t.Fatalf("Proxy given scheme %q for wss, want https (so that HTTPS_PROXY applies)", got)
	}
}

// TestProxyUntrustedTLS checks that an HTTPS proxy's certificate is
// verified.
func TestProxyUntrustedTLS(t *testing.T) {
	cert, _ := newSelfSignedCert(t, "127.0.0.1")
	_, otherPool := newSelfSignedCert(t, "127.0.0.1")
	p := startConnectProxy(t, &cert, nil)
	opts := &wsx.DialOptions{
		Proxy:          http.ProxyURL(p.url("https", url.UserPassword("user", "pass"))),
		TLSConfig:      &tls.Config{RootCAs: otherPool},
		NetDialContext: dialOnly127(),
	}
	_, _, err := wsx.Dial(testCtx(t), "ws://127.0.0.1:1/", opts)
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Fatalf("error %v, want an unknown authority", err)
	}
	if len(p.seen()) != 0 {
		t.Errorf("CONNECT sent over an unverified connection: %q", p.seen())
	}
}

// TestProxyContextBounds checks that ctx bounds a proxy that never
// answers CONNECT.
func TestProxyContextBounds(t *testing.T) {
	addr := silentServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	opts := &wsx.DialOptions{
		Proxy:          http.ProxyURL(&url.URL{Scheme: "http", Host: addr}),
		NetDialContext: dialOnly127(),
	}
	start := time.Now()
	_, _, err := wsx.Dial(ctx, "ws://127.0.0.1:1/", opts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial took %v", d)
	}
}

// The default Proxy, http.ProxyFromEnvironment, reads the environment once
// per process and never proxies requests for localhost or loopback
// addresses. So each case runs in a new process (the test binary again)
// with its own environment, dialing a name that only the test proxy and
// the child's dialer map to 127.0.0.1.

const proxyChildEnv = "WSX_PROXY_ENV_CHILD"

// TestProxyFromEnvironmentChild is the child side of
// TestProxyFromEnvironment; it does nothing in an ordinary run.
func TestProxyFromEnvironmentChild(t *testing.T) {
	if os.Getenv(proxyChildEnv) == "" {
		t.Skip("run by TestProxyFromEnvironment")
	}
	opts := &wsx.DialOptions{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t.Logf("dialed %s", addr)
			return dialOnly127(proxyTargetName)(ctx, network, addr)
		},
	}
	if caFile := os.Getenv("WSX_CHILD_CA"); caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			t.Fatal("bad CA file")
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool}
	}
	c, _, err := wsx.Dial(testCtx(t), os.Getenv("WSX_CHILD_URL"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, c)
	echoOnce(t, c, "from the child")
}

func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv(proxyChildEnv) != "" {
		t.Skip("in the child")
	}
	cert, _ := newSelfSignedCert(t, proxyTargetName)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(echoAccept(t, nil))
	t.Cleanup(plain.Close)
	secure := startTLSServer(t, echoAccept(t, nil), cert)
	plainTarget := fmt.Sprintf("%s:%d", proxyTargetName, plain.Listener.Addr().(*net.TCPAddr).Port)
	secureTarget := fmt.Sprintf("%s:%d", proxyTargetName, secure.Listener.Addr().(*net.TCPAddr).Port)
	p := startConnectProxy(t, nil, nil)
	proxyURL := "http://user:pass@" + p.addr
	// A proxy URL that must not be used: nothing listens there, and the
	// child may only connect to 127.0.0.1.
	unused := "http://user:pass@127.0.0.1:1"

	tests := []struct {
		name       string
		env        []string
		url        string
		wantTarget string // the CONNECT target, or "" for a direct connection
		wantDialed string
	}{
		{
			name:       "ws uses HTTP_PROXY",
			env:        []string{"HTTP_PROXY=" + proxyURL, "HTTPS_PROXY=" + unused},
			url:        "ws://" + plainTarget + "/",
			wantTarget: plainTarget,
			wantDialed: p.addr,
		},
		{
			name:       "wss uses HTTPS_PROXY",
			env:        []string{"HTTP_PROXY=" + unused, "HTTPS_PROXY=" + proxyURL, "WSX_CHILD_CA=" + caFile},
			url:        "wss://" + secureTarget + "/",
			wantTarget: secureTarget,
			wantDialed: p.addr,
		},
		{
			name:       "lower-case http_proxy",
			env:        []string{"http_proxy=" + proxyURL},
			url:        "ws://" + plainTarget + "/",
			wantTarget: plainTarget,
			wantDialed: p.addr,
		},
		{
			name:       "NO_PROXY",
			env:        []string{"HTTP_PROXY=" + unused, "NO_PROXY=" + proxyTargetName},
			url:        "ws://" + plainTarget + "/",
			wantDialed: plainTarget,
		},
		{
			name:       "ws ignores HTTPS_PROXY",
			env:        []string{"HTTPS_PROXY=" + unused},
			url:        "ws://" + plainTarget + "/",
			wantDialed: plainTarget,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.seen())
			// Under -race the child would otherwise sleep a second
			// at exit.
			gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
			env := []string{proxyChildEnv + "=1", "WSX_CHILD_URL=" + tt.url, "GORACE=" + gorace}
			for _, kv := range os.Environ() {
				k, _, _ := strings.Cut(kv, "=")
				switch strings.ToUpper(k) {
				case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD", "GORACE":
					continue
				}
				env = append(env, kv)
			}
			env = append(env, tt.env...)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestProxyFromEnvironmentChild$", "-test.count=1", "-test.v")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "--- PASS: TestProxyFromEnvironmentChild") {
				t.Fatalf("child did not run the test:\n%s", out)
			}
			if !strings.Contains(string(out), "dialed "+tt.wantDialed+"\n") {
				t.Errorf("child did not dial %s:\n%s", tt.wantDialed, out)
			}
			var want []string
			if tt.wantTarget != "" {
				want = []string{tt.wantTarget}
			}
			if got := p.seen()[before:]; !slices.Equal(got, want) {
				t.Errorf("proxy saw CONNECT %q, want %q", got, want)
			}
		})
	}
}
