package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsx-go/wsx"
)

// Connect mode has a client of its own for ws:// URLs without compression:
// a handshake there is a fixed request with a fresh key, a 101 response to
// check, and a close frame each way, which it does with a few system calls
// on buffers it reuses, so that the load generator is not what limits the
// handshake rate. It checks what wsx.Dial and Conn.Close check for such a
// request: the status, the Upgrade, Connection and Sec-WebSocket-Accept
// fields, that no extension or subprotocol was chosen, and then that the
// server answers the close frame with its own, with status 1000. A host
// name is resolved once, when the run starts. This file is the part that
// does not depend on the operating system.

// rawKeyGUID is appended to the key to form the accept value
// (RFC 6455 §1.3).
const rawKeyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// rawKeyLen is the length of a Sec-WebSocket-Key (16 bytes in base64)
// and rawAcceptLen that of a Sec-WebSocket-Accept (a SHA-1 in base64).
const (
	rawKeyLen    = 24
	rawAcceptLen = 28
)

// rawMaxHead bounds the response head the raw client accepts.
const rawMaxHead = 64 << 10

// How long the raw client waits for the server's close frame after
// sending its own, and then for the server to close the TCP connection,
// as Conn.Close does.
const (
	rawCloseTimeout = 5 * time.Second
	rawLinger       = time.Second
)

// rawPlan is what every raw handshake of a run shares.
type rawPlan struct {
	addrs      []netip.AddrPort // the server's addresses, tried in turn
	request    []byte           // the request, with room for the key at keyAt
	keyAt      int
	sources    []netip.Addr // local addresses, used in turn; none: any
	timeout    time.Duration
	maskedEcho bool
}

// planRawConnect returns the plan for cfg's handshakes, or nil when the
// raw client cannot do them and wsx.Dial has to: wss://, compression, a
// host that does not resolve now, or a system without the raw client.
func planRawConnect(ctx context.Context, cfg *benchConfig) *rawPlan {
	if !rawConnectSupported || cfg.compression != wsx.CompressionDisabled {
		return nil
	}
	u, err := url.Parse(cfg.url)
	if err != nil || u.Fragment != "" {
		return nil
	}
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		if port == "" {
			port = "80"
		}
	default:
		return nil
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		ips = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		ips, err = net.DefaultResolver.LookupNetIP(rctx, "ip", u.Hostname())
		cancel()
		if err != nil || len(ips) == 0 {
			return nil
		}
	}
	p := &rawPlan{sources: cfg.sourceAddrs, timeout: cfg.timeout, maskedEcho: cfg.maskedEcho}
	for _, ip := range ips {
		if ip.Zone() != "" {
			return nil
		}
		p.addrs = append(p.addrs, netip.AddrPortFrom(ip.Unmap(), uint16(pn)))
	}
	u.Scheme = "http"
	// The same request wsx.Dial sends when given no header, subprotocol
	// or extension, so that servers parse the same bytes either way.
	p.request = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ", u.RequestURI(), u.Host)
	p.keyAt = len(p.request)
	p.request = append(p.request, strings.Repeat("A", rawKeyLen)+"\r\n\r\n"...)
	return p
}

// rawKeys makes handshake keys and masking keys.
type rawKeys struct {
	rng *mrand.ChaCha8
}

func newRawKeys() *rawKeys {
	var seed [32]byte
	rand.Read(seed[:])
	return &rawKeys{rng: mrand.NewChaCha8(seed)}
}

// next writes a fresh key into key and the Sec-WebSocket-Accept the
// server has to answer it with into accept.
func (k *rawKeys) next(key *[rawKeyLen]byte, accept *[rawAcceptLen]byte) {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], k.rng.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], k.rng.Uint64())
	base64.StdEncoding.Encode(key[:], raw[:])
	var in [rawKeyLen + len(rawKeyGUID)]byte
	copy(in[:], key[:])
	copy(in[rawKeyLen:], rawKeyGUID)
	sum := sha1.Sum(in[:])
	base64.StdEncoding.Encode(accept[:], sum[:])
}

// closeFrame writes a masked close frame with status 1000 into f.
func (k *rawKeys) closeFrame(f *[8]byte) {
	m := uint32(k.rng.Uint64())
	f[0], f[1] = 0x88, 0x82
	binary.BigEndian.PutUint32(f[2:6], m)
	code := uint16(wsx.StatusNormalClosure)
	f[6] = byte(code>>8) ^ f[2]
	f[7] = byte(code) ^ f[3]
}

// rawHeadEnd returns the length of the response head in b, through the
// empty line that ends it, or -1 if b does not hold all of it yet. Lines
// may end in CRLF or, as net/http also accepts, a bare LF.
func rawHeadEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

var errRawHandshake = errors.New("handshake failed")

// checkRawResponse checks a response head (as rawHeadEnd delimits it) to
// a request that offered no subprotocol and no extension, whose key is
// answered by accept (RFC 6455 §4.1, the client's checks 1–6).
func checkRawResponse(head []byte, accept []byte) error {
	line, rest := rawLine(head)
	// HTTP/1.x 101 Switching Protocols
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		!isDigits(line[9:12]) || (len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("malformed response status line %q: %w", truncate(line, 80), errRawHandshake)
	}
	if string(line[9:12]) != "101" {
		return fmt.Errorf("server refused the WebSocket upgrade: %s: %w", truncate(line[9:], 80), errRawHandshake)
	}
	var upgrade, connection, accepted bool
	for {
		line, rest = rawLine(rest)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || name[0] == ' ' || name[0] == '\t' || name[len(name)-1] == ' ' || name[len(name)-1] == '\t' {
			return fmt.Errorf("malformed response header line %q: %w", truncate(line, 80), errRawHandshake)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case asciiEqualFold(name, "Upgrade"):
			upgrade = upgrade || hasRawToken(value, "websocket")
		case asciiEqualFold(name, "Connection"):
			connection = connection || hasRawToken(value, "upgrade")
		case asciiEqualFold(name, "Sec-WebSocket-Accept"):
			// The first one counts, as with http.Header.Get.
			if !accepted && !bytes.Equal(value, accept) {
				return fmt.Errorf("Sec-WebSocket-Accept is %q, want %q: %w", truncate(value, 80), accept, errRawHandshake)
			}
			accepted = true
		case asciiEqualFold(name, "Sec-WebSocket-Extensions"):
			if len(bytes.Trim(value, " \t,")) > 0 {
				return fmt.Errorf("server chose extension %q that was not offered: %w", truncate(value, 80), errRawHandshake)
			}
		case asciiEqualFold(name, "Sec-WebSocket-Protocol"):
			if len(bytes.Trim(value, " \t,")) > 0 {
				return fmt.Errorf("server chose subprotocol %q that was not offered: %w", truncate(value, 80), errRawHandshake)
			}
		}
	}
	switch {
	case !upgrade:
		return fmt.Errorf("response lacks \"Upgrade: websocket\": %w", errRawHandshake)
	case !connection:
		return fmt.Errorf("response lacks \"Connection: Upgrade\": %w", errRawHandshake)
	case !accepted:
		return fmt.Errorf("response lacks Sec-WebSocket-Accept: %w", errRawHandshake)
	}
	return nil
}

// rawLine splits the first line off b, without its CRLF or LF.
func rawLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// asciiEqualFold compares a header name with name, which is ASCII,
// without regard to case.
func asciiEqualFold(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(name[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasRawToken reports whether the comma-separated list v holds token,
// compared without regard to case.
func hasRawToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if asciiEqualFold(bytes.Trim(t, " \t"), token) {
			return true
		}
	}
	return false
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// rawFrames follows the frames a server sends after the client's close
// frame, looking for the server's close frame. Frames before it are
// skipped, as Conn.Close discards them.
type rawFrames struct {
	skip       uint64 // payload bytes of a skipped frame still to come
	maskedEcho bool   // the server's frames come back masked (--masked-echo)
}

// scan looks through b, what arrived after what it consumed before. It
// returns how many bytes it consumed, whether that included the close
// frame, and an error for a frame that breaks the protocol or a close
// frame whose status is not 1000.
func (f *rawFrames) scan(b []byte) (used int, closed bool, err error) {
	for {
		if f.skip > 0 {
			k := int(min(f.skip, uint64(len(b)-used)))
			used += k
			f.skip -= uint64(k)
			if f.skip > 0 {
				return used, false, nil
			}
		}
		rest := b[used:]
		if len(rest) < 2 {
			return used, false, nil
		}
		b0, b1 := rest[0], rest[1]
		op := b0 & 0x0F
		hlen := 2
		switch b1 & 0x7F {
		case 126:
			hlen += 2
		case 127:
			hlen += 8
		}
		masked := b1&0x80 != 0
		if masked {
			hlen += 4
		}
		if len(rest) < hlen {
			return used, false, nil
		}
		var n uint64
		switch b1 & 0x7F {
		case 126:
			n = uint64(binary.BigEndian.Uint16(rest[2:]))
		case 127:
			n = binary.BigEndian.Uint64(rest[2:])
		default:
			n = uint64(b1 & 0x7F)
		}
		control := op&0x8 != 0
		switch {
		case b0&0x70 != 0:
			return used, false, fmt.Errorf("frame with reserved bits %#x set", b0&0x70)
		case masked && !f.maskedEcho:
			return used, false, errors.New("masked frame from the server")
		case op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10:
			return used, false, fmt.Errorf("frame with unknown opcode %d", op)
		case control && (n > 125 || b0&0x80 == 0):
			return used, false, errors.New("fragmented or long control frame")
		case n>>63 != 0:
			return used, false, errors.New("frame length over 2^63")
		}
		if op != 8 {
			used += hlen
			f.skip = n
			continue
		}
		if len(rest) < hlen+int(n) {
			return used, false, nil
		}
		p := rest[hlen : hlen+int(n)]
		if masked {
			var unmasked [125]byte
			key := rest[hlen-4 : hlen]
			for i, c := range p {
				unmasked[i] = c ^ key[i&3]
			}
			p = unmasked[:n]
		}
		return used + hlen + int(n), true, checkRawClose(p)
	}
}

// checkRawClose checks the payload of the server's close frame: status
// 1000 and a reason in UTF-8.
func checkRawClose(p []byte) error {
	switch {
	case len(p) == 0:
		return errors.New("the server's close frame has no status, want 1000")
	case len(p) == 1:
		return errors.New("close frame with a 1-byte payload")
	}
	if code := wsx.StatusCode(binary.BigEndian.Uint16(p)); code != wsx.StatusNormalClosure {
		return fmt.Errorf("the server's close frame has status %v, want 1000", code)
	}
	if !utf8.Valid(p[2:]) {
		return errors.New("close reason is not UTF-8")
	}
	return nil
}
