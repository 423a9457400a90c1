package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/wsx-go/wsx"
)

// sourceAddrs is the --source-addrs flag: local addresses to connect from,
// written as a range (127.0.0.1-127.0.0.20) or a list, or both mixed.
type sourceAddrs []netip.Addr

// maxSourceAddrs bounds a range, so a typo cannot make a huge list.
const maxSourceAddrs = 4096

func (s *sourceAddrs) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, a := range *s {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, ",")
}

func (s *sourceAddrs) Set(v string) error {
	var list []netip.Addr
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, isRange := strings.Cut(part, "-")
		lo, err := netip.ParseAddr(strings.TrimSpace(from))
		if err != nil {
			return fmt.Errorf("%q is not an IP address", from)
		}
		if !isRange {
			list = append(list, lo)
			continue
		}
		hi, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return fmt.Errorf("%q is not an IP address", to)
		}
		if lo.BitLen() != hi.BitLen() || hi.Less(lo) {
			return fmt.Errorf("%q is not a range from a lower to a higher address", part)
		}
		for a := lo; ; a = a.Next() {
			list = append(list, a)
			if len(list) > maxSourceAddrs {
				return fmt.Errorf("more than %d source addresses", maxSourceAddrs)
			}
			if a == hi {
				break
			}
		}
	}
	if len(list) == 0 {
		return errors.New("no addresses")
	}
	*s = list
	return nil
}

// dialOptions returns the options for each source address (one set when
// none was given); connection i uses set i mod len.
func (cfg *benchConfig) dialOptions() []*wsx.DialOptions {
	base := wsx.DialOptions{
		CompressionMode: cfg.compression,
		// The load generator talks to the URL given, never through a
		// proxy from the environment.
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
	}
	if cfg.mode == "echo" {
		base.ReadLimit = cfg.size
	}
	addrs := cfg.sourceAddrs
	if len(addrs) == 0 {
		addrs = []netip.Addr{{}}
	}
	var opts []*wsx.DialOptions
	for _, a := range addrs {
		d := &net.Dialer{}
		if a.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
		}
		o := base
		o.NetDialContext = d.DialContext
		if cfg.maskedEcho {
			o.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return newMaskedEchoConn(nc), nil
			}
		}
		opts = append(opts, &o)
	}
	return opts
}

// maskedEchoConn lets a client read a plain TCP echo of its own frames:
// the server side of the handshake is a minimal 101 response, and every
// frame after it comes back as it was sent, masked. Reads pass the
// response through and turn each masked frame into the unmasked frame a
// server would have sent, in place in the reader's buffer, so the work
// left on the server is the least any WebSocket server does: read bytes
// and write them back.
type maskedEchoConn struct {
	net.Conn
	held    [maxFrameHeader]byte // the start of a header the last read cut off
	nheld   int
	scratch [2 * maxFrameHeader]byte // for reads into buffers too small to convert in
	pending []byte                   // converted bytes of scratch not yet returned
	readErr error

	crlf     int   // bytes of "\r\n\r\n" matched so far in the response
	framing  bool  // the response is over; frames follow
	left     int64 // payload bytes of the current frame still to come
	masked   bool
	closing  bool // the current frame is a close frame
	key      [4]byte
	keyPhase int
}

const maxFrameHeader = 14

func newMaskedEchoConn(nc net.Conn) *maskedEchoConn {
	return &maskedEchoConn{Conn: nc}
}

func (m *maskedEchoConn) Read(p []byte) (int, error) {
	if len(m.pending) > 0 {
		n := copy(p, m.pending)
		m.pending = m.pending[n:]
		return n, nil
	}
	if len(p) < len(m.scratch) {
		n, err := m.readConverted(m.scratch[:])
		k := copy(p, m.scratch[:n])
		m.pending = m.scratch[k:n]
		return k, err
	}
	return m.readConverted(p)
}

// readConverted reads into p and converts what it read in place.
func (m *maskedEchoConn) readConverted(p []byte) (int, error) {
	for {
		if m.readErr != nil {
			return 0, m.readErr
		}
		h := copy(p, m.held[:m.nheld])
		m.nheld = 0
		n, err := m.Conn.Read(p[h:])
		m.readErr = err
		if out := m.convert(p[:h+n]); out > 0 {
			return out, nil
		}
	}
}

// convert rewrites b in place and returns the length of the result, which
// is never longer: headers lose their masking key and payloads are
// unmasked and moved up. A header cut off at the end of b is kept in
// m.held for the next read.
func (m *maskedEchoConn) convert(b []byte) int {
	r, w := 0, 0
	for r < len(b) {
		switch {
		case !m.framing:
			c := b[r]
			b[w] = c
			r, w = r+1, w+1
			switch {
			case c == "\r\n\r\n"[m.crlf]:
				m.crlf++
			case c == '\r':
				m.crlf = 1
			default:
				m.crlf = 0
			}
			m.framing = m.crlf == 4
			continue
		case m.left == 0:
			rest := b[r:]
			need := maxFrameHeader
			if len(rest) >= 2 {
				need = frameHeaderSize(rest[1])
			}
			if len(rest) < need {
				m.nheld = copy(m.held[:], rest)
				return w
			}
			h := rest[:need]
			m.closing = h[0]&0x0F == 0x8
			m.masked = h[1]&0x80 != 0
			switch h[1] & 0x7F {
			case 126:
				m.left = int64(binary.BigEndian.Uint16(h[2:]))
			case 127:
				m.left = int64(binary.BigEndian.Uint64(h[2:]) & (1<<63 - 1))
			default:
				m.left = int64(h[1] & 0x7F)
			}
			if m.masked {
				copy(m.key[:], h[need-4:])
				m.keyPhase = 0
				h = h[:need-4]
			}
			b[w], b[w+1] = h[0], h[1]&0x7F
			w += 2 + copy(b[w+2:], h[2:])
			r += need
		default:
			k := int(min(int64(len(b)-r), m.left))
			if m.masked {
				m.keyPhase = unmaskMove(b[w:w+k], b[r:r+k], m.key, m.keyPhase)
			} else {
				copy(b[w:], b[r:r+k])
			}
			r, w = r+k, w+k
			m.left -= int64(k)
		}
		if m.closing && m.left == 0 {
			// A server closes the TCP connection after its close
			// frame; the echo does not know to, so the reader is told
			// here rather than waiting for it in vain.
			m.readErr = io.EOF
			return w
		}
	}
	return w
}

// frameHeaderSize is the size of a frame header whose second byte is b1.
func frameHeaderSize(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// unmaskMove writes src XOR key, starting at key byte phase, to dst, which
// has src's length and may overlap it if it starts no later; it returns
// the phase after src.
func unmaskMove(dst, src []byte, key [4]byte, phase int) int {
	var k8 [8]byte
	for i := range k8 {
		k8[i] = key[(phase+i)&3]
	}
	end := (phase + len(src)) & 3
	w := binary.LittleEndian.Uint64(k8[:])
	dst = dst[:len(src)]
	for len(src) >= 8 {
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^w)
		src, dst = src[8:], dst[8:]
	}
	for i := range src {
		dst[i] = src[i] ^ k8[i]
	}
	return end
}
