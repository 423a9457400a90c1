package wsx

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// proxyConnect opens a tunnel to addr through an HTTP or HTTPS proxy with
// CONNECT (RFC 9110 §9.3.6) over nc, the connection to the proxy.
func proxyConnect(ctx context.Context, nc net.Conn, proxy *url.URL, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	conn := nc
	switch proxy.Scheme {
	case "http":
	case "https":
		tc := tls.Client(nc, tlsConfigFor(tlsCfg, proxy.Hostname()))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
		}
		conn = tc
	default:
		return nil, fmt.Errorf("proxy %s: unsupported scheme %q (want http or https)", proxy.Redacted(), proxy.Scheme)
	}
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)) + "\r\n"
	}
	req += "\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("proxy %s: read CONNECT response: %w", proxy.Redacted(), err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("proxy %s refused CONNECT %s: %s", proxy.Redacted(), addr, resp.Status)
	}
	if br.Buffered() > 0 {
		return nil, fmt.Errorf("proxy %s sent data before the tunnel was used", proxy.Redacted())
	}
	return conn, nil
}
