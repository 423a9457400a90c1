package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// echoHandler echoes every message.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, err := wsx.Accept(w, r, nil)
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
})

// writePEM writes a certificate or key in PEM to a file of dir.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert makes a self-signed client certificate and returns its files
// and the pool that trusts it.
func clientCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "wsx test client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return writePEM(t, dir, "client.pem", "CERTIFICATE", der), writePEM(t, dir, "client-key.pem", "PRIVATE KEY", kder), pool
}

func TestConnectTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, clients := clientCert(t, dir)
	srv := httptest.NewUnstartedServer(echoHandler)
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: clients}
	srv.StartTLS()
	defer srv.Close()
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/"

	tests := []struct {
		name   string
		args   []string
		status int
		errOut string
	}{
		{"untrusted", nil, exitConnect, "certificate"},
		{"--ca", []string{"--ca", caFile}, exitOK, ""},
		{"--insecure", []string{"--insecure"}, exitOK, ""},
		{"--cert and --key", []string{"--ca", caFile, "--cert", certFile, "--key", keyFile}, exitOK, ""},
		{"--cert alone", []string{"--cert", certFile}, exitUsage, "--cert and --key go together"},
		{"--ca without a certificate", []string{"--ca", keyFile}, exitUsage, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := connect(t, "", append(tt.args, "-x", "over tls", url)...)
			if got := exitStatus(err); got != tt.status || !strings.Contains(errOut, tt.errOut) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", got, errOut, tt.status, tt.errOut)
			}
			if tt.status == exitOK && out != "over tls\n" {
				t.Errorf("stdout %q", out)
			}
		})
	}

	// A server that requires a client certificate refuses a client
	// without one, and takes the one --cert gives.
	strict := httptest.NewUnstartedServer(echoHandler)
	strict.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	strict.StartTLS()
	defer strict.Close()
	strictCA := writePEM(t, dir, "strict-ca.pem", "CERTIFICATE", strict.Certificate().Raw)
	strictURL := "wss" + strings.TrimPrefix(strict.URL, "https") + "/"
	if _, errOut, err := connect(t, "", "--ca", strictCA, "-x", "hi", strictURL); exitStatus(err) != exitConnect {
		t.Errorf("without a client certificate: exit %d (%s), want %d", exitStatus(err), errOut, exitConnect)
	}
	if out, errOut, err := connect(t, "", "--ca", strictCA, "--cert", certFile, "--key", keyFile, "-x", "hi", strictURL); err != nil || out != "hi\n" {
		t.Errorf("with --cert: %q, %v (%s)", out, err, errOut)
	}
}

// connectProxy is an HTTP proxy that tunnels CONNECT requests with the
// given Basic credentials, counting the tunnels it opened.
func connectProxy(t *testing.T, user, password string) (*httptest.Server, *atomic.Int32) {
	var tunnels atomic.Int32
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("Proxy-Authorization") != want {
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			http.Error(w, "who are you?", http.StatusProxyAuthRequired)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
		tunnels.Add(1)
		go func() {
			io.Copy(up, brw)
			up.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(nc, up)
		nc.Close()
		up.Close()
	}))
	t.Cleanup(p.Close)
	return p, &tunnels
}

func TestConnectProxy(t *testing.T) {
	ts := newTestServer(t)
	proxy, tunnels := connectProxy(t, "ann", "s3cret")
	proxyURL := strings.Replace(proxy.URL, "http://", "http://ann:s3cret@", 1)
	out, errOut, err := connect(t, "", "--proxy", proxyURL, "-x", "via proxy", ts.url("/echo"))
	if err != nil || out != "via proxy\n" || tunnels.Load() != 1 {
		t.Fatalf("through the proxy: %q, %v, %d tunnels (%s)", out, err, tunnels.Load(), errOut)
	}
	_, errOut, err = connect(t, "", "--proxy", proxy.URL, "-x", "hi", ts.url("/echo"))
	if exitStatus(err) != exitConnect || !strings.Contains(errOut, "407") {
		t.Errorf("proxy without credentials: exit %d, stderr %q; want %d mentioning 407", exitStatus(err), errOut, exitConnect)
	}
	if _, errOut, err := connect(t, "", "--proxy", "ftp://x", "-x", "hi", ts.url("/echo")); exitStatus(err) != exitUsage {
		t.Errorf("--proxy ftp://x: exit %d (%s), want %d", exitStatus(err), errOut, exitUsage)
	}
}

func TestConnectTimestamps(t *testing.T) {
	ts := newTestServer(t)
	out, _, err := connect(t, "", "--timestamps", "-x", "when?", ts.url("/echo"))
	if err != nil || !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} when\?\n$`).MatchString(out) {
		t.Fatalf("stdout %q, %v; want a time before the message", out, err)
	}
}

func TestConnectOrigin(t *testing.T) {
	ts := newTestServer(t)
	if out, errOut, err := connect(t, "", "--origin", ts.URL, "-x", "same site", ts.url("/echo")); err != nil || out != "same site\n" {
		t.Errorf("--origin of the server's own host: %q, %v (%s)", out, err, errOut)
	}
	_, errOut, err := connect(t, "", "--origin", "https://evil.example", "-x", "hi", ts.url("/echo"))
	if exitStatus(err) != exitRefused || !strings.Contains(errOut, "403 Forbidden") {
		t.Errorf("--origin of another site: exit %d, stderr %q; want %d and the 403", exitStatus(err), errOut, exitRefused)
	}
}
