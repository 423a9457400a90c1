package wsx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions configures Dial. A nil *DialOptions means the zero value.
// Dial never modifies the options.
type DialOptions struct {
	// HTTPHeader is sent with the opening handshake, for example
	// Authorization, Cookie or Origin. The WebSocket headers themselves
	// are set by Dial.
	HTTPHeader http.Header

	// Subprotocols lists the subprotocols to offer, most preferred
	// first. The server's choice is Conn.Subprotocol.
	Subprotocols []string

	// TLSConfig is used for wss:// URLs and for https:// proxies. Nil
	// means the default configuration; ServerName defaults to the host
	// being connected to.
	TLSConfig *tls.Config

	// Proxy chooses an HTTP or HTTPS proxy for the request, reached with
	// CONNECT (RFC 9110 §9.3.6); credentials in the proxy URL are sent
	// with Basic authentication. Nil means http.ProxyFromEnvironment
	// (HTTP_PROXY, HTTPS_PROXY and NO_PROXY; wss:// URLs use
	// HTTPS_PROXY). A function that returns nil, nil connects directly.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext opens the TCP connection to the server or proxy.
	// Nil means a net.Dialer with default settings.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// ReadLimit is the initial read limit (see Conn.SetReadLimit): 0
	// means DefaultReadLimit and a negative value no limit.
	ReadLimit int64

	// CompressionMode decides whether permessage-deflate (RFC 7692) is
	// offered; the zero value does not offer it. The server may still
	// decline, which Dial accepts.
	CompressionMode CompressionMode

	// CompressionThreshold is the size below which Write sends messages
	// uncompressed: 0 means DefaultCompressionThreshold and a negative
	// value compresses every message.
	CompressionThreshold int

	// CompressionLevel trades speed for size, from 1 (fastest) to 9
	// (smallest); 0 means a fast default.
	CompressionLevel int

	// PingInterval turns on a heartbeat when positive: once nothing has
	// been read from the peer for this long, a ping is sent, and if
	// nothing (the pong or anything else) arrives within PongTimeout
	// the connection is failed with status 1011 and reads return an
	// error wrapping ErrPongTimeout. Frames are seen by the goroutine
	// reading the connection, so a heartbeat needs a read in progress,
	// as pongs and close frames do.
	PingInterval time.Duration

	// PongTimeout is how long the heartbeat waits for the peer after a
	// ping; 0 means PingInterval.
	PongTimeout time.Duration

	// IdleTimeout, when positive, closes the connection with status
	// 1001 (going away) and the reason "idle timeout" once no data
	// frame has been read or written for this long. Pings and pongs do
	// not count as activity.
	IdleTimeout time.Duration
}

// maxRefusalBody bounds the body of a refused handshake that Dial keeps in
// the returned response.
const maxRefusalBody = 64 << 10

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are accepted as synonyms) and performs the opening handshake
// (RFC 6455 §4.1). ctx bounds the whole of it: DNS, TCP, proxy, TLS and
// handshake; it does not affect the connection once Dial returns.
//
// The response is returned whenever the server answered: on success it is
// the 101 response; when the server refused the upgrade, the error wraps
// ErrHandshake and the response (with up to 64 KiB of its body) tells the
// caller why.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("wsx: dial: %w", err)
	}
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
		secure = true
	default:
		return nil, nil, fmt.Errorf("wsx: dial: unsupported URL scheme %q (want ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("wsx: dial: URL %q has no host", rawURL)
	}
	if u.Fragment != "" {
		return nil, nil, fmt.Errorf("wsx: dial: URL %q has a fragment", rawURL)
	}
	addr := hostPort(u)

	header := o.HTTPHeader.Clone()
	if header == nil {
		header = http.Header{}
	}
	req := &http.Request{Method: http.MethodGet, URL: u, Header: header, Host: u.Host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	proxyURL, err := proxy(req)
	if err != nil {
		return nil, nil, fmt.Errorf("wsx: dial: proxy: %w", err)
	}
	dial := o.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	target := addr
	if proxyURL != nil {
		target = hostPort(proxyURL)
	}
	nc, err := dial(ctx, "tcp", target)
	if err != nil {
		return nil, nil, fmt.Errorf("wsx: dial: %w", err)
	}
	// Everything from here to the end of the handshake is bounded by ctx.
	// The deadline is moved only once ctx has ended, so that a timeout
	// is always reported as ctx's error.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*Conn, *http.Response, error) {
		stop()
		nc.Close()
		if ctx.Err() != nil {
			return nil, nil, ctxError("dial", ctx)
		}
		return nil, nil, fmt.Errorf("wsx: dial: %w", err)
	}

	conn := nc
	if proxyURL != nil {
		conn, err = proxyConnect(ctx, nc, proxyURL, addr, o.TLSConfig)
		if err != nil {
			return fail(err)
		}
	}
	if secure {
		cfg := tlsConfigFor(o.TLSConfig, u.Hostname())
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		conn = tc
	}

	var keyBytes [16]byte
	rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	if _, err := conn.Write(handshakeRequest(u, header, key, o.Subprotocols, deflateOfferHeader(o.CompressionMode))); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(fmt.Errorf("read handshake response: %w", err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		stop()
		nc.Close()
		return nil, resp, fmt.Errorf("wsx: dial: server refused the WebSocket upgrade: %s: %w", resp.Status, ErrHandshake)
	}
	hr, err := verifyResponse(resp, key, o.Subprotocols, o.CompressionMode)
	if err != nil {
		stop()
		nc.Close()
		return nil, resp, fmt.Errorf("wsx: dial: %w", err)
	}
	if !stop() {
		nc.Close()
		return nil, nil, ctxError("dial", ctx)
	}
	nc.SetDeadline(time.Time{})
	resp.Body = http.NoBody
	var dp *deflateConfig
	if hr.deflate {
		dp = &hr.deflateCfg
	}
	return newConn(conn, true, buffered(br), hr.subprotocol, connConfig{
		readLimit:            o.ReadLimit,
		deflate:              dp,
		compressionLevel:     o.CompressionLevel,
		compressionThreshold: o.CompressionThreshold,
		keepalive:            keepaliveConfig{o.PingInterval, o.PongTimeout, o.IdleTimeout},
	}), resp, nil
}

// hostPort returns u's host with the scheme's default port added.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https", "wss":
			port = "443"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// tlsConfigFor returns a copy of cfg with ServerName defaulting to host.
func tlsConfigFor(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

// handshakeRequest renders the client's opening handshake.
func handshakeRequest(u *url.URL, header http.Header, key string, subprotocols []string, extensions string) []byte {
	var b []byte
	b = append(b, "GET "...)
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, u.Host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\n"...)
	if len(subprotocols) > 0 {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, strings.Join(subprotocols, ", ")...)
		b = append(b, "\r\n"...)
	}
	if extensions != "" {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, extensions...)
		b = append(b, "\r\n"...)
	}
	h := header.Clone()
	for _, k := range []string{"Host", "Upgrade", "Connection", "Sec-Websocket-Version", "Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		h.Del(k)
	}
	h.Write(appendWriter{&b})
	b = append(b, "\r\n"...)
	return b
}

// handshakeResult is what the client learns from a valid 101 response.
type handshakeResult struct {
	subprotocol string
	deflate     bool
	deflateCfg  deflateConfig
}

// verifyResponse checks the server's 101 response (RFC 6455 §4.1, the
// client's checks 1–6) against what was offered.
func verifyResponse(resp *http.Response, key string, offered []string, mode CompressionMode) (handshakeResult, error) {
	var r handshakeResult
	if !hasToken(resp.Header, "Upgrade", "websocket") {
		return r, fmt.Errorf("response lacks \"Upgrade: websocket\": %w", ErrHandshake)
	}
	if !hasToken(resp.Header, "Connection", "upgrade") {
		return r, fmt.Errorf("response lacks \"Connection: Upgrade\": %w", ErrHandshake)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptValue(key); got != want {
		return r, fmt.Errorf("Sec-WebSocket-Accept is %q, want %q: %w", got, want, ErrHandshake)
	}
	exts, ok := parseExtensions(resp.Header)
	if !ok {
		return r, fmt.Errorf("malformed Sec-WebSocket-Extensions %q: %w", resp.Header.Values("Sec-WebSocket-Extensions"), ErrHandshake)
	}
	var err error
	if r.deflateCfg, r.deflate, err = acceptDeflateResponse(exts, mode); err != nil {
		return r, fmt.Errorf("%v: %w", err, ErrHandshake)
	}
	protos := headerTokens(resp.Header, "Sec-WebSocket-Protocol")
	switch len(protos) {
	case 0:
		return r, nil
	case 1:
		for _, o := range offered {
			if o == protos[0] {
				r.subprotocol = o
				return r, nil
			}
		}
		return r, fmt.Errorf("server chose subprotocol %q that was not offered: %w", protos[0], ErrHandshake)
	}
	return r, fmt.Errorf("server chose several subprotocols %q: %w", protos, ErrHandshake)
}
