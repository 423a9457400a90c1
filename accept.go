package wsx

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net/http"
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
	var head requestHead
	head.setRequest(r)
	hs, ref := checkHandshake(&head, &o)
	if ref != nil {
		ref.setHeader(w.Header())
		http.Error(w, ref.body, ref.status)
		return nil, ref.err
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
	h.Set("Sec-WebSocket-Accept", string(appendAcceptValue(nil, hs.key)))
	if hs.subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", hs.subprotocol)
	}
	if hs.compress {
		h.Set("Sec-WebSocket-Extensions", string(hs.extensions.appendTo(nil)))
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
	return newConn(nc, false, buffered(brw.Reader), hs.subprotocol, o.connConfig(&hs)), nil
}

// connConfig is the configuration of a connection the server accepted
// with hs.
func (o *AcceptOptions) connConfig(hs *serverHandshake) connConfig {
	var dp *deflateConfig
	if hs.compress {
		dp = &hs.deflate
	}
	return connConfig{
		readLimit:            o.ReadLimit,
		deflate:              dp,
		compressionLevel:     o.CompressionLevel,
		compressionThreshold: o.CompressionThreshold,
		keepalive:            keepaliveConfig{o.PingInterval, o.PongTimeout, o.IdleTimeout},
	}
}

// buffered returns what br has read ahead, which must go to the
// connection (readBufSize at most: net/http reads with 4 KiB buffers).
func buffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// appendWriter appends writes to a byte slice.
type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// acceptHeaders are the headers the server's checks read, in canonical
// form.
var acceptHeaders = [...]string{
	"Connection", "Upgrade", "Sec-Websocket-Version", "Sec-Websocket-Key",
	"Origin", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
}

// setRequest makes h hold what the server's checks read of r, copied.
func (h *requestHead) setRequest(r *http.Request) {
	size := len(r.Method) + len(r.Proto) + len(r.Host)
	count := 0
	for _, name := range acceptHeaders {
		for _, v := range r.Header[name] {
			size += len(name) + len(v)
			count++
		}
	}
	arena := make([]byte, 0, size)
	put := func(s string) []byte {
		arena = append(arena, s...)
		return arena[len(arena)-len(s) : len(arena) : len(arena)]
	}
	h.method, h.proto, h.host = put(r.Method), put(r.Proto), put(r.Host)
	h.major, h.minor = r.ProtoMajor, r.ProtoMinor
	h.nfield, h.more = 0, nil
	if count > len(h.field) {
		h.more = make([]headerField, 0, count)
	}
	for _, name := range acceptHeaders {
		for _, v := range r.Header[name] {
			f := headerField{put(name), put(v)}
			if h.more != nil {
				h.more = append(h.more, f)
			} else {
				h.field[h.nfield] = f
				h.nfield++
			}
		}
	}
}

// serverHandshake is what the server agreed to in a handshake it
// accepted. The key points into the request head it was read from.
type serverHandshake struct {
	status      int    // 101 Switching Protocols
	subprotocol string // one of AcceptOptions.Subprotocols, or ""
	key         []byte // the client's Sec-WebSocket-Key
	compress    bool   // permessage-deflate was negotiated: extensions and deflate hold
	extensions  deflateResponse
	deflate     deflateConfig
}

// refusal is a handshake the server turns down: the response's status,
// the header it must carry, its body (without the newline http.Error
// adds), and the error to return.
type refusal struct {
	status int
	header refusalHeader
	body   string
	err    error
}

// refusalHeader is the header a refusal carries besides the usual ones.
type refusalHeader uint8

const (
	refusalPlain   refusalHeader = iota
	refusalAllow                 // "Allow: GET"
	refusalUpgrade               // "Connection: Upgrade" and "Upgrade: websocket"
	refusalVersion               // "Sec-WebSocket-Version: 13"
)

// setHeader sets the header of the refusal on h.
func (r *refusal) setHeader(h http.Header) {
	switch r.header {
	case refusalAllow:
		h.Set("Allow", http.MethodGet)
	case refusalUpgrade:
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
	case refusalVersion:
		h.Set("Sec-WebSocket-Version", "13")
	}
}

// refuse returns a refusal of the handshake for the reason msg.
func refuse(status int, header refusalHeader, msg string) *refusal {
	return &refusal{
		status: status,
		header: header,
		body:   "WebSocket handshake refused: " + msg,
		err:    fmt.Errorf("wsx: accept: %s: %w", msg, ErrHandshake),
	}
}

// checkHandshake decides on a client's opening handshake
// (RFC 6455 §4.2.1) as Accept and Upgrade answer it: what the server
// agrees to, or why it refuses. It allocates nothing for a request it
// accepts.
func checkHandshake(h *requestHead, o *AcceptOptions) (serverHandshake, *refusal) {
	a := serverHandshake{status: http.StatusSwitchingProtocols}
	if string(h.method) != http.MethodGet {
		return a, refuse(http.StatusMethodNotAllowed, refusalAllow, "method must be GET, not "+string(h.method))
	}
	if h.major != 1 || h.minor < 1 {
		return a, refuse(http.StatusBadRequest, refusalPlain, "HTTP/1.1 required, not "+string(h.proto))
	}
	if !h.hasToken("Connection", "upgrade") || !h.hasToken("Upgrade", "websocket") {
		return a, refuse(http.StatusUpgradeRequired, refusalUpgrade, `request must ask for "Connection: Upgrade" and "Upgrade: websocket"`)
	}
	if v, n := h.get("Sec-WebSocket-Version"); n != 1 || string(trimSpaceTab(v)) != "13" {
		return a, refuse(http.StatusUpgradeRequired, refusalVersion, "unsupported Sec-WebSocket-Version (only 13 is supported)")
	}
	key, n := h.get("Sec-WebSocket-Key")
	if n != 1 {
		return a, refuse(http.StatusBadRequest, refusalPlain, "exactly one Sec-WebSocket-Key is required")
	}
	a.key = trimSpaceTab(key)
	if !validKey(a.key) {
		return a, refuse(http.StatusBadRequest, refusalPlain, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	if !o.InsecureSkipOriginCheck {
		if err := checkOrigin(h, o.OriginPatterns); err != nil {
			return a, &refusal{status: http.StatusForbidden, body: err.Error(), err: err}
		}
	}
	a.subprotocol = selectSubprotocol(h, o.Subprotocols)
	if o.CompressionMode != CompressionDisabled {
		a.extensions, a.deflate, a.compress = negotiateDeflateHead(h, o.CompressionMode)
	}
	return a, nil
}

// validKey reports whether a Sec-WebSocket-Key is 16 bytes in base64.
func validKey(key []byte) bool {
	var buf [64]byte
	if base64.StdEncoding.DecodedLen(len(key)) > len(buf) {
		// Only a key with line breaks, which base64 skips, can be
		// this long and valid.
		b, err := base64.StdEncoding.DecodeString(string(key))
		return err == nil && len(b) == 16
	}
	n, err := base64.StdEncoding.Decode(buf[:], key)
	return err == nil && n == 16
}

// negotiateDeflateHead answers the first acceptable permessage-deflate
// offer of the request (see negotiateDeflate).
func negotiateDeflateHead(h *requestHead, mode CompressionMode) (deflateResponse, deflateConfig, bool) {
	var params [8]extParamOf[[]byte]
	for _, f := range h.fields() {
		if !equalFoldASCII(f.name, "Sec-WebSocket-Extensions") {
			continue
		}
		p := extParser[[]byte]{s: f.value}
		for {
			// Malformed entries are declined like unacceptable ones.
			e, good, more := p.next(params[:0])
			if !more {
				break
			}
			if !good {
				continue
			}
			if r, cfg, ok := acceptDeflateOffer(e, mode); ok {
				return r, cfg, true
			}
		}
	}
	return deflateResponse{}, deflateConfig{}, false
}

// selectSubprotocol returns the first of the server's subprotocols that
// the client offered.
func selectSubprotocol(h *requestHead, server []string) string {
	for _, s := range server {
		for _, f := range h.fields() {
			if !equalFoldASCII(f.name, "Sec-WebSocket-Protocol") {
				continue
			}
			for tok, rest, ok := cutToken(f.value); ok; tok, rest, ok = cutToken(rest) {
				if string(tok) == s {
					return s
				}
			}
		}
	}
	return ""
}
