//go:build linux

package interop

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
	"github.com/wsx-go/wsx/internal/test/strictflate"
)

// testMsg is one message a compression test sends; several parts are sent
// as fragments of it, by peers that can.
type testMsg struct {
	name  string
	typ   string // "text" or "binary"
	parts [][]byte
}

func (m testMsg) data() []byte { return bytes.Join(m.parts, nil) }

func (m testMsg) op() byte {
	if m.typ == "text" {
		return rawpeer.OpText
	}
	return rawpeer.OpBinary
}

func whole(name, typ string, data []byte) testMsg {
	return testMsg{name: name, typ: typ, parts: [][]byte{data}}
}

// compressionMessages returns text and binary messages of the sizes where
// frame lengths change encoding, each random and highly compressible; with
// big, also 1 MiB of each. The compressible binary messages repeat a 5000
// byte random block, so a compressor can use distances that are longer
// than a small window allows. The last two messages are the same.
func compressionMessages(big bool) []testMsg {
	sizes := []int{0, 1, 125, 126, 65535, 65536}
	if big {
		sizes = append(sizes, 1<<20)
	}
	var msgs []testMsg
	seed := uint64(1)
	for _, n := range sizes {
		if n == 1<<20 {
			// 1 MiB is slow to push through a browser; one of each
			// type is enough.
			msgs = append(msgs,
				whole("1MiB-compressible-text", "text", compressibleText(n, seed)),
				whole("1MiB-random-binary", "binary", randomBinary(n, seed+1)))
			continue
		}
		msgs = append(msgs,
			whole(fmt.Sprintf("%d-compressible-text", n), "text", compressibleText(n, seed)),
			whole(fmt.Sprintf("%d-random-text", n), "text", randomText(n, seed+1)),
			whole(fmt.Sprintf("%d-compressible-binary", n), "binary", compressibleBinary(n, seed+2)),
			whole(fmt.Sprintf("%d-random-binary", n), "binary", randomBinary(n, seed+3)))
		seed += 4
	}
	// The same message twice: with context takeover, the second can
	// refer to the first.
	again := compressibleText(1000, seed)
	return append(msgs, whole("1000-text", "text", again), whole("1000-text-again", "text", again))
}

func randomBinary(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomText returns exactly n bytes of random UTF-8 with characters of
// one to four bytes.
func randomText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x7e47))
	ranges := [][2]rune{{0x20, 0x7e}, {0xa0, 0x7ff}, {0x800, 0xd7ff}, {0xe000, 0xfffd}, {0x10000, 0x10ffff}}
	b := make([]byte, 0, n)
	for len(b) < n {
		rg := ranges[r.IntN(len(ranges))]
		c := rg[0] + rune(r.IntN(int(rg[1]-rg[0]+1)))
		if len(b)+utf8.RuneLen(c) > n {
			c = rune(0x20 + r.IntN(0x5f))
		}
		b = utf8.AppendRune(b, c)
	}
	return b
}

// compressibleText returns exactly n bytes of JSON-like records.
func compressibleText(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x1503))
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, `{"id":%d,"user":"wsx-%d","tags":["interop","deflate","✓"],"score":%d},`, i, r.IntN(50), r.IntN(1000))
	}
	b = []byte(strings.ToValidUTF8(string(b[:n]), ""))
	for len(b) < n {
		b = append(b, ' ')
	}
	return b
}

// compressibleBinary repeats a 5000-byte random block, one byte changed
// in each copy.
func compressibleBinary(n int, seed uint64) []byte {
	block := randomBinary(5000, seed)
	b := make([]byte, 0, n)
	for i := 0; len(b) < n; i++ {
		block[i%len(block)]++
		b = append(b, block[:min(len(block), n-len(b))]...)
	}
	return b
}

// deflateParams is a permessage-deflate response, or an offer, as a set of
// parameters: "client_no_context_takeover", "server_max_window_bits=10"
// and so on.
type deflateParams map[string]bool

// parseDeflate parses a Sec-WebSocket-Extensions value that must hold
// exactly one permessage-deflate entry.
func parseDeflate(t *testing.T, who, header string) deflateParams {
	t.Helper()
	if strings.Contains(header, ",") || strings.Contains(header, `"`) {
		t.Fatalf("%s: extensions %q, want a single permessage-deflate with plain parameters", who, header)
	}
	items := strings.Split(header, ";")
	if strings.TrimSpace(items[0]) != "permessage-deflate" {
		t.Fatalf("%s: extensions %q, want permessage-deflate", who, header)
	}
	ps := deflateParams{}
	for _, it := range items[1:] {
		k, v, hasV := strings.Cut(strings.TrimSpace(it), "=")
		p := strings.ToLower(strings.TrimSpace(k))
		if hasV {
			p += "=" + strings.TrimSpace(v)
		}
		if ps[p] {
			t.Fatalf("%s: extensions %q repeat %s", who, header, p)
		}
		ps[p] = true
	}
	return ps
}

func (ps deflateParams) String() string {
	keys := make([]string, 0, len(ps))
	for k := range ps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return "permessage-deflate; " + strings.Join(keys, "; ")
}

// wantDeflate checks that header is permessage-deflate with exactly the
// parameters of want, in any order.
func wantDeflate(t *testing.T, who, header, want string) deflateParams {
	t.Helper()
	got, w := parseDeflate(t, who, header), parseDeflate(t, who+" (wanted)", want)
	if got.String() != w.String() {
		t.Fatalf("%s: extensions %q, want %q", who, header, want)
	}
	return got
}

// bits returns a window parameter's value, 15 when absent.
func (ps deflateParams) bits(name string) int {
	for p := range ps {
		if v, ok := strings.CutPrefix(p, name+"="); ok {
			n, err := strconv.Atoi(v)
			if err == nil {
				return n
			}
		}
	}
	return 15
}

// inflaters returns decompressors for what the server and the client of a
// connection that agreed on response ps send.
func (ps deflateParams) inflaters() (server, client *msgInflater) {
	return newMsgInflater(!ps["server_no_context_takeover"], ps.bits("server_max_window_bits")),
		newMsgInflater(!ps["client_no_context_takeover"], ps.bits("client_max_window_bits"))
}

// msgInflater decompresses the permessage-deflate messages (RFC 7692) that
// one side of a connection sent, in order, and checks them against what
// was negotiated for that side.
type msgInflater struct {
	takeover   bool // the sender may refer to its earlier messages
	windowBits int  // the sender's LZ77 window, 8 to 15
	dec        *strictflate.Decoder
}

func newMsgInflater(takeover bool, windowBits int) *msgInflater {
	return &msgInflater{takeover: takeover, windowBits: windowBits, dec: strictflate.New(windowBits)}
}

// message decompresses the payload of one compressed message, its frames'
// payloads joined.
func (m *msgInflater) message(payload []byte) (strictflate.Result, error) {
	return m.dec.Message(payload, m.takeover)
}

// headerValue returns a header of an HTTP header block the tap recorded.
func headerValue(block, name string) string {
	for _, line := range strings.Split(block, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)) == textproto.CanonicalMIMEHeaderKey(name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// wireMsg is one data message as it crossed the tap.
type wireMsg struct {
	op         byte
	frames     int
	compressed bool
	data       []byte // decompressed
	wire       int    // payload bytes on the wire
	inflated   strictflate.Result
}

// readWire groups the data frames one side sent into messages and
// decompresses those with RSV1 set, with inf, which is nil when
// compression was not agreed. RSV1 may be set on a message's first frame
// only (RFC 7692 §6.1), RSV2 and RSV3 never. Frames of a message still
// unfinished when the connection ended are returned as pending.
func readWire(t *testing.T, who string, fs []rawpeer.Frame, inf *msgInflater) (msgs []wireMsg, pending int) {
	t.Helper()
	var cur *wireMsg
	for i, f := range dataFrames(fs) {
		if f.Rsv&^rawpeer.Rsv1 != 0 {
			t.Fatalf("%s: frame %d %v has RSV2 or RSV3 set", who, i, f)
		}
		if f.Opcode == rawpeer.OpContinuation {
			if cur == nil {
				t.Fatalf("%s: frame %d %v continues no message", who, i, f)
			}
			if f.Rsv != 0 {
				t.Fatalf("%s: continuation frame %d %v has RSV1 set; only a message's first frame may", who, i, f)
			}
		} else {
			if cur != nil {
				t.Fatalf("%s: frame %d %v starts a message inside another", who, i, f)
			}
			if f.Rsv != 0 && inf == nil {
				t.Fatalf("%s: frame %d %v has RSV1 set, but no compression was agreed", who, i, f)
			}
			cur = &wireMsg{op: f.Opcode, compressed: f.Rsv != 0}
		}
		cur.frames++
		cur.wire += len(f.Payload)
		cur.data = append(cur.data, f.Payload...)
		if !f.Fin {
			continue
		}
		if cur.compressed {
			res, err := inf.message(cur.data)
			if err != nil {
				t.Fatalf("%s: message %d (%d frames, %d bytes compressed): %v", who, len(msgs), cur.frames, len(cur.data), err)
			}
			cur.data, cur.inflated = res.Data, res
		}
		msgs = append(msgs, *cur)
		cur = nil
	}
	if cur != nil {
		pending = cur.frames
	}
	return msgs, pending
}

// compressAll is the threshold argument of wantWire for a sender that
// compresses every message.
const compressAll = 0

// wantWire checks that msgs are the messages of want, in order and whole,
// and that exactly those of at least threshold bytes were compressed; a
// negative threshold leaves the choice to the sender.
func wantWire(t *testing.T, who string, msgs []wireMsg, want []testMsg, threshold int) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Fatalf("%s sent %d messages, want %d", who, len(msgs), len(want))
	}
	for i, m := range msgs {
		w := want[i]
		if m.op != w.op() || !bytes.Equal(m.data, w.data()) {
			t.Fatalf("%s: message %d is opcode %#x with %d bytes %s, want %s: opcode %#x with %d bytes %s",
				who, i, m.op, len(m.data), preview(m.data), w.name, w.op(), len(w.data()), preview(w.data()))
		}
		if threshold >= 0 && m.compressed != (len(w.data()) >= threshold) {
			t.Fatalf("%s: message %d (%s, %d bytes) compressed: %t, want %t (threshold %d)",
				who, i, w.name, len(w.data()), m.compressed, !m.compressed, threshold)
		}
	}
}

// wireSummary says how many messages were compressed and how far their
// references reached, for the test log.
func wireSummary(msgs []wireMsg) string {
	var n, longest, back, raw, wire int
	for _, m := range msgs {
		raw += len(m.data)
		wire += m.wire
		if m.compressed {
			n++
			longest = max(longest, m.inflated.Longest)
			if m.inflated.ReachBack {
				back++
			}
		}
	}
	return fmt.Sprintf("%d of %d messages compressed, %d bytes as %d on the wire, longest distance %d, %d messages referring to earlier ones",
		n, len(msgs), raw, wire, longest, back)
}

// reachesBack reports whether any message referred to an earlier one.
func reachesBack(msgs []wireMsg) bool {
	for _, m := range msgs {
		if m.inflated.ReachBack {
			return true
		}
	}
	return false
}

// longestDistance is the longest back-reference in msgs.
func longestDistance(msgs []wireMsg) int {
	d := 0
	for _, m := range msgs {
		d = max(d, m.inflated.Longest)
	}
	return d
}
