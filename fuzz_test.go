package wsx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// scriptConn is a net.Conn whose peer is a script: reads return the bytes
// of in, at most chunk at a time, then io.EOF; writes are recorded in out.
// Deadlines are accepted and ignored: nothing it does can block.
type scriptConn struct {
	mu     sync.Mutex
	in     []byte
	chunk  int
	out    bytes.Buffer
	closed bool
	// onFirstRead, if set, runs before the first read, with what was
	// written so far, and returns the bytes to read instead of in.
	onFirstRead func(written []byte) []byte
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.onFirstRead != nil {
		c.in = c.onFirstRead(c.out.Bytes())
		c.onFirstRead = nil
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *scriptConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *scriptConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// appendFrame encodes a frame byte by byte from RFC 6455 §5.2, without the
// package's encoder, for seeds and for checking what a Conn wrote.
func appendFrame(b []byte, fin bool, op byte, masked bool, key [4]byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var mbit byte
	if masked {
		mbit = 0x80
	}
	b = append(b, b0)
	switch n := len(payload); {
	case n < 126:
		b = append(b, mbit|byte(n))
	case n < 1<<16:
		b = append(b, mbit|126, byte(n>>8), byte(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// refFrame is a frame decoded by refNextFrame.
type refFrame struct {
	fin, masked bool
	rsv, op     byte
	length      uint64
	payload     []byte // unmasked; shorter than length if the input ended
}

// refFrameErr says why refNextFrame stopped.
type refFrameErr int

const (
	refOK        refFrameErr = iota
	refEOF                   // the input ended inside the header
	refMalformed             // RFC 6455 §5.2/§5.5 forbid this header
)

// refNextFrame decodes one frame from the front of in, following the rules
// of RFC 6455 §5.2 and §5.5 directly. It returns the frame, what is left of
// in, and whether the header was complete and well-formed.
func refNextFrame(in []byte) (refFrame, []byte, refFrameErr) {
	var f refFrame
	if len(in) < 2 {
		return f, nil, refEOF
	}
	f.fin = in[0]&0x80 != 0
	f.rsv = in[0] & 0x70
	f.op = in[0] & 0x0F
	f.masked = in[1]&0x80 != 0
	n := 2
	l7 := in[1] & 0x7F
	switch l7 {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if f.masked {
		n += 4
	}
	if len(in) < n {
		return f, nil, refEOF
	}
	malformed := false
	switch l7 {
	case 126:
		f.length = uint64(in[2])<<8 | uint64(in[3])
		malformed = f.length < 126
	case 127:
		for _, c := range in[2:10] {
			f.length = f.length<<8 | uint64(c)
		}
		malformed = f.length>>63 != 0 || f.length < 1<<16
	default:
		f.length = uint64(l7)
	}
	var key [4]byte
	if f.masked {
		copy(key[:], in[n-4:n])
	}
	switch f.op {
	case 0, 1, 2:
	case 8, 9, 10:
		if !f.fin || f.length > 125 {
			malformed = true
		}
	default:
		malformed = true
	}
	in = in[n:]
	if malformed {
		return f, in, refMalformed
	}
	k := len(in)
	if uint64(k) > f.length {
		k = int(f.length)
	}
	f.payload = make([]byte, k)
	for i := range k {
		f.payload[i] = in[i] ^ key[i%4]
	}
	return f, in[k:], refOK
}

// spec close codes a peer may send (RFC 6455 §7.4.1, §7.4.2 and the IANA
// registry): 1000-1003, 1007-1014 and 3000-4999.
func specCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// refEnd is how a stream of frames ends when read by a Conn.
type refEnd struct {
	kind      string // "eof", "protocol", "utf8", "toobig" or "close"
	code      int    // the peer's close code for "close"; 1005 for none
	reason    string
	closeSent int // the status of the close frame the Conn must send; 0 for none, 1005 for an empty one
}

type refMsg struct {
	typ     MessageType
	payload []byte
}

// refRead is an independent model of a Conn reading in: the messages it
// must deliver, the pings it must answer, and how reading must end.
func refRead(in []byte, client bool, limit int64) (msgs []refMsg, pings [][]byte, end refEnd) {
	fail := func(kind string, code int) refEnd { return refEnd{kind: kind, closeSent: code} }
	var (
		inMsg   bool
		typ     MessageType
		total   uint64
		payload []byte
	)
	for {
		f, rest, ferr := refNextFrame(in)
		switch ferr {
		case refEOF:
			return msgs, pings, refEnd{kind: "eof"}
		case refMalformed:
			return msgs, pings, fail("protocol", 1002)
		}
		in = rest
		if f.masked == client || f.rsv != 0 {
			return msgs, pings, fail("protocol", 1002)
		}
		if f.op >= 8 {
			if uint64(len(f.payload)) < f.length {
				return msgs, pings, refEnd{kind: "eof"}
			}
			switch f.op {
			case 9:
				pings = append(pings, f.payload)
			case 8:
				p := f.payload
				switch {
				case len(p) == 0:
					return msgs, pings, refEnd{kind: "close", code: 1005, closeSent: 1005}
				case len(p) == 1:
					return msgs, pings, fail("protocol", 1002)
				}
				code := int(p[0])<<8 | int(p[1])
				if !specCloseCode(code) {
					return msgs, pings, fail("protocol", 1002)
				}
				if !utf8.Valid(p[2:]) {
					return msgs, pings, fail("utf8", 1007)
				}
				return msgs, pings, refEnd{kind: "close", code: code, reason: string(p[2:]), closeSent: code}
			}
			continue
		}
		if f.op == 0 {
			if !inMsg {
				return msgs, pings, fail("protocol", 1002)
			}
		} else {
			if inMsg {
				return msgs, pings, fail("protocol", 1002)
			}
			inMsg, typ, total, payload = true, MessageType(f.op), 0, nil
		}
		total += f.length
		if total > uint64(limit) {
			return msgs, pings, fail("toobig", 1009)
		}
		payload = append(payload, f.payload...)
		if typ == MessageText && !validPrefix(payload) {
			return msgs, pings, fail("utf8", 1007)
		}
		if uint64(len(f.payload)) < f.length {
			return msgs, pings, refEnd{kind: "eof"}
		}
		if f.fin {
			if typ == MessageText && !utf8.Valid(payload) {
				return msgs, pings, fail("utf8", 1007)
			}
			msgs = append(msgs, refMsg{typ, payload})
			inMsg = false
		}
	}
}

// seedFrames are frame streams from a client (masked) for the read fuzzer;
// the client-side run uses them unmasked.
func seedFrames(masked bool) [][]byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	fr := func(fin bool, op byte, p string) []byte {
		return appendFrame(nil, fin, op, masked, key, []byte(p))
	}
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	closeFrame := func(code int, reason string) []byte {
		return fr(true, 8, string([]byte{byte(code >> 8), byte(code)})+reason)
	}
	return [][]byte{
		nil,
		fr(true, 1, "Hello"),
		cat(fr(false, 1, "Hel"), fr(true, 0, "lo")),
		cat(fr(false, 2, "a"), fr(true, 9, "ping"), fr(true, 0, "b"), closeFrame(1000, "bye")),
		cat(fr(true, 2, strings.Repeat("x", 300)), fr(true, 8, "")),
		cat(fr(true, 1, "κόσμε"), closeFrame(4000, "κόσμε")),
		fr(true, 1, "\xed\xa0\x80"),
		cat(fr(false, 1, "\xe2\x82"), fr(true, 0, "\xac")),
		cat(fr(false, 1, "\xe2"), fr(true, 0, "")),
		fr(true, 0, "orphan"),
		cat(fr(false, 1, "a"), fr(true, 1, "b")),
		fr(true, 2, strings.Repeat("z", 2000)),
		closeFrame(1005, ""),
		closeFrame(999, ""),
		fr(true, 8, "\x03"),
		closeFrame(1000, "\xff"),
		{0x82, 0x7e, 0x00, 0x05},
		{0x83, 0x00},
		{0xc1, 0x00},
		{0x09, 0x00},
		fr(true, 1, "Hello")[:4],
	}
}

// FuzzReadFrames feeds arbitrary bytes to a Conn as its peer's frames, in
// pieces of chunk bytes, and checks the messages it delivers, the pongs and
// close frame it sends, and the error it ends with against refRead.
func FuzzReadFrames(f *testing.F) {
	for _, client := range []bool{false, true} {
		for i, s := range seedFrames(!client) {
			f.Add(s, uint8(i%7), client)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, client bool) {
		const limit = 1000
		wantMsgs, wantPings, wantEnd := refRead(in, client, limit)

		nc := &scriptConn{in: bytes.Clone(in), chunk: int(chunk)}
		c := newConn(nc, client, nil, "", connConfig{readLimit: limit})
		msgs, err := readUntilError(t, c)
		c.CloseNow()
		checkMessages(t, msgs, err, wantMsgs, wantEnd)
		checkWritten(t, nc.written(), client, wantPings, wantEnd)
	})
}

// readUntilError reads messages from c with AppendMessage, reusing one
// buffer, until an error, which must come within 10 seconds.
func readUntilError(t *testing.T, c *Conn) ([]refMsg, error) {
	t.Helper()
	type result struct {
		msgs []refMsg
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		var buf []byte
		for {
			typ, p, err := c.AppendMessage(context.Background(), buf[:0])
			if err != nil {
				r.err = err
				break
			}
			buf = p
			r.msgs = append(r.msgs, refMsg{typ, bytes.Clone(p)})
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.msgs, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("reading did not end")
		return nil, nil
	}
}

// checkMessages compares what a Conn read with what refRead expects.
func checkMessages(t *testing.T, msgs []refMsg, err error, wantMsgs []refMsg, wantEnd refEnd) {
	t.Helper()
	if len(msgs) != len(wantMsgs) {
		t.Fatalf("read %d messages, want %d (error %v, want end %+v)", len(msgs), len(wantMsgs), err, wantEnd)
	}
	for i := range wantMsgs {
		if msgs[i].typ != wantMsgs[i].typ || !bytes.Equal(msgs[i].payload, wantMsgs[i].payload) {
			t.Fatalf("message %d is %v %q, want %v %q", i, msgs[i].typ, msgs[i].payload, wantMsgs[i].typ, wantMsgs[i].payload)
		}
	}
	checkReadError(t, err, wantEnd)
}

func checkReadError(t *testing.T, err error, want refEnd) {
	t.Helper()
	var ce CloseError
	var kind string
	switch {
	case errors.As(err, &ce):
		kind = "close"
	case errors.Is(err, ErrProtocol):
		kind = "protocol"
	case errors.Is(err, ErrInvalidUTF8):
		kind = "utf8"
	case errors.Is(err, ErrMessageTooBig):
		kind = "toobig"
	case errors.Is(err, io.ErrUnexpectedEOF):
		kind = "eof"
	default:
		t.Fatalf("read ended with unexpected error %v", err)
	}
	if kind != want.kind {
		t.Fatalf("read ended with %v (%s), want %s", err, kind, want.kind)
	}
	if kind == "close" && (int(ce.Code) != want.code || ce.Reason != want.reason) {
		t.Fatalf("close error %d %q, want %d %q", ce.Code, ce.Reason, want.code, want.reason)
	}
	if kind == "close" && CloseStatus(err) != StatusCode(want.code) {
		t.Fatalf("CloseStatus = %d, want %d", CloseStatus(err), want.code)
	}
}

// checkWritten checks what the Conn sent: a pong for every ping, then the
// close frame the end calls for, and nothing else.
func checkWritten(t *testing.T, out []byte, client bool, pings [][]byte, end refEnd) {
	t.Helper()
	var frames []refFrame
	for len(out) > 0 {
		f, rest, ferr := refNextFrame(out)
		if ferr != refOK || uint64(len(f.payload)) != f.length {
			t.Fatalf("Conn wrote a malformed frame: %q", out)
		}
		if f.masked != client {
			t.Fatalf("Conn (client %v) wrote a frame with masked %v", client, f.masked)
		}
		frames = append(frames, f)
		out = rest
	}
	want := len(pings)
	if end.closeSent != 0 {
		want++
	}
	if len(frames) != want {
		t.Fatalf("Conn wrote %d frames, want %d pongs and close %d", len(frames), len(pings), end.closeSent)
	}
	for i, p := range pings {
		if frames[i].op != 0xA || !bytes.Equal(frames[i].payload, p) {
			t.Fatalf("frame %d: op %d payload %q, want pong %q", i, frames[i].op, frames[i].payload, p)
		}
	}
	if end.closeSent == 0 {
		return
	}
	cf := frames[len(frames)-1]
	if cf.op != 8 {
		t.Fatalf("last frame has op %d, want close", cf.op)
	}
	if end.closeSent == 1005 {
		if len(cf.payload) != 0 {
			t.Fatalf("empty close answered with payload %q", cf.payload)
		}
		return
	}
	if len(cf.payload) < 2 {
		t.Fatalf("close frame payload %q, want status %d", cf.payload, end.closeSent)
	}
	if code := int(binary.BigEndian.Uint16(cf.payload)); code != end.closeSent {
		t.Fatalf("sent close status %d, want %d", code, end.closeSent)
	}
	if !utf8.Valid(cf.payload[2:]) {
		t.Fatalf("sent close reason %q is not UTF-8", cf.payload[2:])
	}
}

// FuzzMask checks mask and maskCopy, with any key, key position and split
// point, against naiveMask.
func FuzzMask(f *testing.F) {
	f.Add([]byte("Hello"), rfcKey, uint8(0), uint16(2))
	f.Add(bytes.Repeat([]byte{0xAA}, 100), uint32(0x01020304), uint8(3), uint16(33))
	f.Add([]byte{}, uint32(0), uint8(1), uint16(0))
	f.Add(bytes.Repeat([]byte("0123456789"), 20), uint32(0xdeadbeef), uint8(2), uint16(65))
	f.Fuzz(func(t *testing.T, p []byte, key uint32, pos uint8, split uint16) {
		start := int(pos)
		want := bytes.Clone(p)
		wantPos := naiveMask(key, start&3, want)

		got := bytes.Clone(p)
		if n := mask(key, start, got); n != wantPos || !bytes.Equal(got, want) {
			t.Fatalf("mask(%#x, %d) = %x (pos %d), want %x (pos %d)", key, start, got, n, want, wantPos)
		}
		s := int(split) % (len(p) + 1)
		got = bytes.Clone(p)
		n := mask(key, start, got[:s])
		n = mask(key, n, got[s:])
		if n != wantPos || !bytes.Equal(got, want) {
			t.Fatalf("mask split at %d = %x (pos %d), want %x (pos %d)", s, got, n, want, wantPos)
		}
		dst := make([]byte, len(p)+3)
		n = maskCopy(dst, p[:s], key, start)
		n = maskCopy(dst[s:], p[s:], key, n)
		if n != wantPos || !bytes.Equal(dst[:len(p)], want) || !bytes.Equal(dst[len(p):], []byte{0, 0, 0}) {
			t.Fatalf("maskCopy split at %d = %x (pos %d), want %x (pos %d)", s, dst, n, want, wantPos)
		}
	})
}

// FuzzUTF8 feeds the validator p cut at the points in cuts and checks that
// it never rejects a valid prefix, rejects at the first byte that cannot
// be part of valid text, and agrees with utf8.Valid on the whole.
func FuzzUTF8(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.in), []byte{1, 2})
	}
	f.Add([]byte("κόσμε\xed\xa0\x80edited"), []byte{3, 1, 1, 1})
	f.Fuzz(func(t *testing.T, p []byte, cuts []byte) {
		bad := firstInvalid(p)
		var v utf8Validator
		at := 0
		for i := 0; at < len(p); i++ {
			k := len(p) - at
			if i < len(cuts) {
				k = min(k, int(cuts[i]))
			}
			ok := v.write(p[at : at+k])
			// The piece contains the first invalid byte iff it fails.
			want := bad < at || bad >= at+k
			if ok != want {
				t.Fatalf("%q: write of bytes [%d,%d) = %v, want %v (first invalid byte %d)", p, at, at+k, ok, want, bad)
			}
			if !ok {
				return
			}
			at += k
		}
		if got := v.done(); got != utf8.Valid(p) {
			t.Fatalf("%q: done = %v after accepting every piece, utf8.Valid = %v", p, got, utf8.Valid(p))
		}
	})
}

// FuzzParseHeader decodes arbitrary bytes as a frame header and checks the
// verdict against refNextFrame and that an accepted header encodes back to
// the same bytes (unpack, then pack).
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		"\x81\x05", "\x81\x85\x37\xfa\x21\x3d", "\x82\x7e\x01\x00", "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00",
		"\x82\x7e\x00\x7d", "\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00",
		"\x83\x00", "\x09\x00", "\x89\x7e\x00\x7e", "\xc1\x01", "\x88\x80\x00\x00\x00\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		n := headerSize(b[0], b[1])
		if n < 2 || n > maxHeaderSize {
			t.Fatalf("headerSize(%#x, %#x) = %d", b[0], b[1], n)
		}
		if len(b) < n {
			return
		}
		rf, _, rerr := refNextFrame(b[:n])
		var h header
		got, err := parseHeader(b, &h)
		if (err == nil) != (rerr == refOK) {
			t.Fatalf("parseHeader(%x) error %v, reference says malformed %v", b[:n], err, rerr == refMalformed)
		}
		if err != nil {
			return
		}
		if got != n {
			t.Fatalf("parseHeader(%x) consumed %d bytes, headerSize says %d", b[:n], got, n)
		}
		if h.fin != rf.fin || h.rsv != rf.rsv || byte(h.opcode) != rf.op || h.masked != rf.masked || uint64(h.length) != rf.length {
			t.Fatalf("parseHeader(%x) = %+v, reference %+v", b[:n], h, rf)
		}
		if headerLen(h.length, h.masked) != n {
			t.Fatalf("headerLen(%d, %v) = %d, want %d", h.length, h.masked, headerLen(h.length, h.masked), n)
		}
		var out [maxHeaderSize]byte
		if m := putHeader(out[:], &h); !bytes.Equal(out[:m], b[:n]) {
			t.Fatalf("putHeader(parseHeader(%x)) = %x", b[:n], out[:m])
		}
	})
}

// FuzzClosePayload checks parseClosePayload against the rules of RFC 6455
// §5.5.1 and §7.4 written out independently.
func FuzzClosePayload(f *testing.F) {
	for _, s := range []string{"", "\x03", "\x03\xe8", "\x03\xe8bye", "\x03\xed", "\x03\xee", "\x03\xef", "\x03\xf2", "\x03\xf6", "\x03\xf7",
		"\x0b\xb7", "\x0b\xb8", "\x13\x87", "\x13\x88", "\x03\xe8\xff", "\x03\xe8\xed\xa0\x80", "\x0f\xa0κόσμε"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		ce, fl := parseClosePayload(p)
		switch {
		case len(p) == 0:
			if fl != nil || ce.Code != StatusNoStatusRcvd || ce.Reason != "" {
				t.Fatalf("empty payload: %+v, %v; want code 1005", ce, fl)
			}
		case len(p) == 1 || !specCloseCode(int(p[0])<<8|int(p[1])):
			if fl == nil || fl.code != StatusProtocolError || !errors.Is(fl, ErrProtocol) {
				t.Fatalf("%x: %+v, %v; want a 1002 failure", p, ce, fl)
			}
		case !utf8.Valid(p[2:]):
			if fl == nil || fl.code != StatusInvalidFramePayloadData || !errors.Is(fl, ErrInvalidUTF8) {
				t.Fatalf("%x: %+v, %v; want a 1007 failure", p, ce, fl)
			}
		default:
			if fl != nil || int(ce.Code) != int(p[0])<<8|int(p[1]) || ce.Reason != string(p[2:]) {
				t.Fatalf("%x: %+v, %v; want code %d reason %q", p, ce, fl, int(p[0])<<8|int(p[1]), p[2:])
			}
		}
	})
}

// hijackRecorder is a ResponseRecorder that can be hijacked, handing over
// a scriptConn, so the whole of Accept runs without a network.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     *scriptConn
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// specTokens returns the comma-separated elements of every value of the
// named header, trimmed, as RFC 9110 §5.6.1 lists are read.
func specTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.Trim(tok, " \t"); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}

func specHasToken(h http.Header, name, token string) bool {
	for _, t := range specTokens(h, name) {
		if strings.EqualFold(t, token) {
			return true
		}
	}
	return false
}

// specAccept computes Sec-WebSocket-Accept as RFC 6455 §4.2.2 defines it.
func specAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// FuzzAcceptRequest runs Accept on requests with arbitrary handshake
// headers (a "\n" in a value makes several values) and checks that it
// upgrades exactly the requests RFC 6455 §4.2.1 allows, refuses the rest
// with the documented status, and that its 101 response satisfies a
// client's checks.
func FuzzAcceptRequest(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13", key, "", "chat, superchat")
	f.Add("GET", uint8(1), "keep-alive, Upgrade", "WebSocket", " 13 ", " "+key+" ", "http://127.0.0.1:8080", "chat.v2")
	f.Add("POST", uint8(1), "Upgrade", "websocket", "13", key, "", "")
	f.Add("GET", uint8(0), "Upgrade", "websocket", "13", key, "", "")
	f.Add("GET", uint8(1), "close", "websocket", "13", key, "", "")
	f.Add("GET", uint8(1), "Upgrade", "h2c", "13", key, "", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "8", key, "", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13\n13", key, "", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13", "c2hvcnQ=", "", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13", key+"\n"+key, "", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13", key, "https://evil.test", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13", key, "null", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13", key, "https://a.example.org", "chat\nchat.v2")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "13\u00a0", key, "", "")
	f.Add("GET", uint8(1), "Upgrade\u3000", "websocket", "13", key, "", "")
	f.Add("GET", uint8(1), "Upgrade", "websocket", "\t13\t", "\t"+key, "", "\tchat\t")
	f.Fuzz(func(t *testing.T, method string, minor uint8, connection, upgrade, version, wskey, origin, protocols string) {
		const host = "127.0.0.1:8080"
		server := []string{"chat.v2", "chat"}
		patterns := []string{"*.example.org"}
		h := http.Header{}
		for name, v := range map[string]string{
			"Connection": connection, "Upgrade": upgrade, "Sec-WebSocket-Version": version,
			"Sec-WebSocket-Key": wskey, "Origin": origin, "Sec-WebSocket-Protocol": protocols,
		} {
			if v == "" {
				continue
			}
			for part := range strings.SplitSeq(v, "\n") {
				// net/http refuses field values with control
				// characters other than tab, so Accept never sees
				// them.
				if strings.ContainsFunc(part, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
					return
				}
				h.Add(name, part)
			}
		}
		r := &http.Request{
			Method: method, URL: &url.URL{Path: "/"}, Host: host, Header: h,
			Proto: "HTTP/1." + string(rune('0'+minor%3)), ProtoMajor: 1, ProtoMinor: int(minor % 3),
		}

		// The verdict RFC 6455 §4.2.1 calls for.
		wantCode := http.StatusSwitchingProtocols
		versions, keys := h.Values("Sec-WebSocket-Version"), h.Values("Sec-WebSocket-Key")
		var wantKey string
		switch {
		case method != "GET":
			wantCode = http.StatusMethodNotAllowed
		case r.ProtoMinor < 1:
			wantCode = http.StatusBadRequest
		case !specHasToken(h, "Connection", "upgrade") || !specHasToken(h, "Upgrade", "websocket"):
			wantCode = http.StatusUpgradeRequired
		case len(versions) != 1 || strings.Trim(versions[0], " \t") != "13":
			wantCode = http.StatusUpgradeRequired
		case len(keys) != 1:
			wantCode = http.StatusBadRequest
		default:
			wantKey = strings.Trim(keys[0], " \t")
			if raw, err := base64.StdEncoding.DecodeString(wantKey); err != nil || len(raw) != 16 {
				wantCode = http.StatusBadRequest
			}
		}
		// The origin policy is only partly predictable: no Origin, or
		// one naming the request's own host, must be allowed; one with
		// no host (such as "null") must be refused.
		originKnown, originOK := true, true
		if o := h.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			switch {
			case err != nil || u.Host == "":
				originOK = false
				for _, p := range patterns {
					originOK = originOK || strings.EqualFold(p, o)
				}
			case strings.EqualFold(u.Host, host):
			default:
				originKnown = false
			}
		}

		rec := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: &scriptConn{}}
		c, err := Accept(rec, r, &AcceptOptions{Subprotocols: server, OriginPatterns: patterns})
		if c != nil {
			defer c.CloseNow()
		}
		if wantCode != http.StatusSwitchingProtocols {
			if err == nil || !errors.Is(err, ErrHandshake) || rec.Code != wantCode || rec.hijacked {
				t.Fatalf("Accept: code %d, error %v, hijacked %v; want refusal %d", rec.Code, err, rec.hijacked, wantCode)
			}
			if wantCode == http.StatusUpgradeRequired && rec.Header().Get("Upgrade") == "" && rec.Header().Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("426 without Upgrade or Sec-WebSocket-Version: %v", rec.Header())
			}
			return
		}
		if err != nil {
			if originKnown && originOK {
				t.Fatalf("Accept refused a valid request: %v", err)
			}
			if !errors.Is(err, ErrHandshake) || rec.Code != http.StatusForbidden || rec.hijacked {
				t.Fatalf("origin refusal: code %d, error %v, hijacked %v; want 403", rec.Code, err, rec.hijacked)
			}
			return
		}
		if originKnown && !originOK {
			t.Fatalf("Accept allowed Origin %q", h.Get("Origin"))
		}
		if !rec.hijacked {
			t.Fatal("Accept succeeded without taking over the connection")
		}
		wantProto := ""
		offered := specTokens(h, "Sec-WebSocket-Protocol")
	pick:
		for _, s := range server {
			for _, o := range offered {
				if s == o {
					wantProto = s
					break pick
				}
			}
		}
		if c.Subprotocol() != wantProto {
			t.Fatalf("subprotocol %q, want %q (offered %q)", c.Subprotocol(), wantProto, offered)
		}
		out := rec.conn.written()
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("101 response does not parse: %v\n%s", err, out)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols ||
			!specHasToken(resp.Header, "Upgrade", "websocket") || !specHasToken(resp.Header, "Connection", "upgrade") ||
			resp.Header.Get("Sec-WebSocket-Accept") != specAccept(wantKey) || resp.Header.Get("Sec-WebSocket-Protocol") != wantProto {
			t.Fatalf("bad 101 response for key %q:\n%s", wantKey, out)
		}
	})
}

// FuzzDialResponse runs Dial against a scripted server that answers with
// arbitrary bytes, in which "{accept}" stands for the correct
// Sec-WebSocket-Accept of the request's key, and checks that Dial accepts
// exactly the 101 responses RFC 6455 §4.1 allows.
func FuzzDialResponse(f *testing.F) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
	f.Add(ok + "\r\n")
	f.Add(ok + "Sec-WebSocket-Protocol: b\r\n\r\n")
	f.Add(ok + "Sec-WebSocket-Protocol: c\r\n\r\n")
	f.Add(ok + "Sec-WebSocket-Protocol: a, b\r\n\r\n")
	f.Add(ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
	f.Add(ok + "\r\n\x81\x05Hello")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	f.Add("HTTP/1.1 403 Forbidden\r\n\r\n")
	f.Add("HTTP/1.0 101 Switching Protocols\r\n\r\n")
	f.Add("garbage")
	f.Add("")
	f.Fuzz(func(t *testing.T, script string) {
		offered := []string{"a", "b"}
		var raw []byte
		accept := ""
		nc := &scriptConn{onFirstRead: func(written []byte) []byte {
			if req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(written))); err == nil {
				accept = specAccept(req.Header.Get("Sec-WebSocket-Key"))
			}
			raw = []byte(strings.ReplaceAll(script, "{accept}", accept))
			return raw
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := Dial(ctx, "ws://127.0.0.1:9/", &DialOptions{
			Subprotocols:   offered,
			Proxy:          func(*http.Request) (*url.URL, error) { return nil, nil },
			NetDialContext: func(context.Context, string, string) (net.Conn, error) { return nc, nil },
		})
		if c != nil {
			defer c.CloseNow()
		}
		if ctx.Err() != nil {
			t.Fatalf("Dial hung on %q", raw)
		}

		want, wantProto, wantStatus, rest := dialVerdict(raw, accept, offered)
		switch {
		case want && err != nil:
			t.Fatalf("Dial refused a valid response: %v\n%q", err, raw)
		case !want && err == nil:
			t.Fatalf("Dial accepted an invalid response:\n%q", raw)
		case want:
			if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != wantProto {
				t.Fatalf("Dial: response %v, subprotocol %q; want 101 and %q", resp, c.Subprotocol(), wantProto)
			}
			// Frames that came with the response are the connection's
			// first input.
			wantMsgs, _, wantEnd := refRead(rest, true, DefaultReadLimit)
			msgs, err := readUntilError(t, c)
			checkMessages(t, msgs, err, wantMsgs, wantEnd)
		case wantStatus != 0 && wantStatus != http.StatusSwitchingProtocols:
			if !errors.Is(err, ErrHandshake) || resp == nil || resp.StatusCode != wantStatus {
				t.Fatalf("refusal %d: Dial returned %v, %v", wantStatus, resp, err)
			}
		}
		if err != nil && !nc.isClosed() {
			t.Fatal("Dial failed without closing the connection")
		}
	})
}

// dialVerdict says whether a client that sent a key whose accept value is
// accept must accept raw as the answer (RFC 6455 §4.1, the client's
// checks), the subprotocol it then uses, the status code if raw is an
// HTTP response at all, and the bytes that follow the response.
func dialVerdict(raw []byte, accept string, offered []string) (ok bool, proto string, status int, rest []byte) {
	src := bytes.NewReader(raw)
	br := bufio.NewReader(src)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		return false, "", 0, nil
	}
	rest = raw[len(raw)-src.Len()-br.Buffered():]
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusSwitchingProtocols || accept == "" || h.Get("Sec-WebSocket-Accept") != accept ||
		!specHasToken(h, "Upgrade", "websocket") || !specHasToken(h, "Connection", "upgrade") ||
		len(specTokens(h, "Sec-WebSocket-Extensions")) != 0 {
		return false, "", resp.StatusCode, nil
	}
	protos := specTokens(h, "Sec-WebSocket-Protocol")
	switch len(protos) {
	case 0:
	case 1:
		found := false
		for _, o := range offered {
			found = found || o == protos[0]
		}
		if !found {
			return false, "", resp.StatusCode, nil
		}
		proto = protos[0]
	default:
		return false, "", resp.StatusCode, nil
	}
	return true, proto, resp.StatusCode, rest
}
