package wsx

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// AcceptOptions configures Accept. A nil *AcceptOptions means the zero
// value: no subprotocols, same-origin browsers only, DefaultReadLimit.
// Accept never modifies the options.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server speaks, most
	// preferred first. Accept picks the first of them that the client
	// offered; if none matches, the connection has no subprotocol and
	// the application decides whether to proceed.
	Subprotocols []string

	// OriginPatterns lists origins, besides the request's own host, from
	// which browsers may connect. A pattern is matched against the
	// origin's host (such as "example.com", "*.example.com" or
	// "localhost:*") or, when it contains "://", against scheme and host
	// ("https://*.example.com"), with path.Match syntax and without
	// regard to case. Requests without an Origin header (non-browser
	// clients) are always allowed.
	OriginPatterns []string

	// InsecureSkipOriginCheck accepts requests from any origin. Browsers
	// send cookies with cross-origin WebSocket requests, so a server that
	// relies on cookies must not set this (cross-site WebSocket
	// hijacking).
	InsecureSkipOriginCheck bool

	// ReadLimit is the initial read limit (see Conn.SetReadLimit): 0
	// means DefaultReadLimit and a negative value no limit.
	ReadLimit int64

	// CompressionMode decides whether permessage-deflate (RFC 7692) is
	// accepted when a client offers it; the zero value declines it.
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

// Accept upgrades an HTTP/1.1 request to a WebSocket connection
// (RFC 6455 §4.2). It validates the request and, if it is not an
// acceptable WebSocket handshake, writes an HTTP error and returns an error
// wrapping ErrHandshake:
//
//   - 405 for a method other than GET;
//   - 426 (with "Upgrade: websocket") for a request that does not ask for
//     an upgrade, or (with "Sec-WebSocket-Version: 13") for another
//     protocol version;
//   - 400 for a missing or malformed Sec-WebSocket-Key;
//   - 403 for an Origin the options do not allow.
//
// Headers the handler set on w before calling Accept, such as cookies, are
// sent with the 101 response. After Accept succeeds the handler must not
// use w; the connection outlives the handler if the handler returns.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	var o AcceptOptions
	if opts != nil {
		o = *opts
	}
	key, err := verifyRequest(w, r)
	if err != nil {
		return nil, err
	}
	if !o.InsecureSkipOriginCheck {
		if err := checkOrigin(r, o.OriginPatterns); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return nil, err
		}
	}
	subprotocol := selectSubprotocol(r, o.Subprotocols)
	var extResp string
	var dcfg deflateConfig
	var deflate bool
	if o.CompressionMode != CompressionDisabled {
		// Malformed entries are declined like unacceptable ones.
		exts, _ := parseExtensions(r.Header)
		extResp, dcfg, deflate = negotiateDeflate(exts, o.CompressionMode)
	}

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		err = fmt.Errorf("wsx: accept: the response cannot be taken over (HTTP/1.1 required): %w", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, err
	}
	// The server's timeouts were meant for the HTTP exchange.
	nc.SetDeadline(time.Time{})

	h := w.Header()
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", acceptValue(key))
	if subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	if deflate {
		h.Set("Sec-WebSocket-Extensions", extResp)
	}
	buf := make([]byte, 0, 256)
	buf = append(buf, "HTTP/1.1 101 Switching Protocols\r\n"...)
	bw := appendWriter{&buf}
	h.Write(bw)
	buf = append(buf, "\r\n"...)
	nc.SetWriteDeadline(time.Now().Add(closeTimeout))
	if _, err := nc.Write(buf); err != nil {
		nc.Close()
		return nil, fmt.Errorf("wsx: accept: write response: %w", err)
	}
	nc.SetWriteDeadline(time.Time{})
	var dp *deflateConfig
	if deflate {
		dp = &dcfg
	}
	return newConn(nc, false, brw.Reader, subprotocol, connConfig{
		readLimit:            o.ReadLimit,
		deflate:              dp,
		compressionLevel:     o.CompressionLevel,
		compressionThreshold: o.CompressionThreshold,
		keepalive:            keepaliveConfig{o.PingInterval, o.PongTimeout, o.IdleTimeout},
	}), nil
}

// appendWriter appends writes to a byte slice.
type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// verifyRequest checks the client's opening handshake (RFC 6455 §4.2.1)
// and returns its key, or writes the HTTP error.
func verifyRequest(w http.ResponseWriter, r *http.Request) (string, error) {
	refuse := func(code int, msg string) (string, error) {
		http.Error(w, "WebSocket handshake refused: "+msg, code)
		return "", fmt.Errorf("wsx: accept: %s: %w", msg, ErrHandshake)
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return refuse(http.StatusMethodNotAllowed, "method must be GET, not "+r.Method)
	}
	if !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return refuse(http.StatusBadRequest, "HTTP/1.1 required, not "+r.Proto)
	}
	if !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return refuse(http.StatusUpgradeRequired, `request must ask for "Connection: Upgrade" and "Upgrade: websocket"`)
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.Trim(v[0], " \t") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version (only 13 is supported)")
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return refuse(http.StatusBadRequest, "exactly one Sec-WebSocket-Key is required")
	}
	key := strings.Trim(keys[0], " \t")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return key, nil
}

// errOrigin is wrapped by the error Accept returns for a refused origin.
var errOrigin = errors.New("origin not allowed")

// checkOrigin applies the origin policy (RFC 6455 §10.2).
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	refused := fmt.Errorf("wsx: accept: %w: %q (host %q): %w", errOrigin, origin, r.Host, ErrHandshake)
	if slicesContainsFold(patterns, origin) {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return refused
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return nil
		}
	}
	return refused
}

func slicesContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// selectSubprotocol returns the first of the server's subprotocols that
// the client offered.
func selectSubprotocol(r *http.Request, server []string) string {
	if len(server) == 0 {
		return ""
	}
	offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	for _, s := range server {
		for _, o := range offered {
			if s == o {
				return s
			}
		}
	}
	return ""
}
