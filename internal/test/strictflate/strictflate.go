// Package strictflate is a deliberately strict, slow DEFLATE (RFC 1951)
// decoder for tests of permessage-deflate (RFC 7692). Unlike compress/flate
// it reports what it saw (block types, the longest distance) and rejects
// what lenient decoders tolerate but a stricter peer might not: incomplete
// Huffman codes, final blocks, back-references longer than the negotiated
// window, and references reaching back before the start of a message that
// was sent without context takeover.
package strictflate

import (
	"errors"
	"fmt"
)

// maxWindow is the largest LZ77 window DEFLATE allows; no distance is
// longer, so no more history is ever needed.
const maxWindow = 1 << 15

// Decoder decompresses the messages one endpoint sent, in order, keeping
// the last 32 KiB of their output as the history later messages may refer
// to. It is not safe for concurrent use.
type Decoder struct {
	window int    // longest distance allowed
	hist   []byte // the output of earlier messages, at most maxWindow bytes
}

// New returns a Decoder for a sender that agreed to an LZ77 window of
// 2^windowBits bytes (RFC 7692 §7.1.2), 8 to 15; it panics on other values,
// which no negotiation can produce.
func New(windowBits int) *Decoder {
	if windowBits < 8 || windowBits > 15 {
		panic(fmt.Sprintf("strictflate: window bits %d, want 8 to 15", windowBits))
	}
	return &Decoder{window: 1 << windowBits}
}

// Result is one decompressed message and what its compressed form did.
type Result struct {
	// Data is the decompressed message; it does not alias the Decoder.
	Data []byte
	// Blocks counts the message's blocks per BTYPE (0 stored, 1 fixed
	// Huffman, 2 dynamic Huffman), including the empty stored block that
	// ends every message.
	Blocks [3]int
	// Longest is the longest back-reference distance, 0 if none.
	Longest int
	// ReachBack reports whether a reference reached into an earlier message.
	ReachBack bool
}

// Message decompresses the payload of one compressed message, its frames'
// payloads joined, as sent: without the 00 00 ff ff that the receiver
// appends (RFC 7692 §7.2.2). The payload must end exactly with that empty
// stored block and contain no final block. takeover reports whether the
// message may refer to earlier ones: false when the sender agreed to no
// context takeover or finished the previous message without it. After an
// error the Decoder's history is that of the messages before this one.
func (d *Decoder) Message(payload []byte, takeover bool) (Result, error) {
	in := append(append([]byte(nil), payload...), 0x00, 0x00, 0xff, 0xff)
	s := &state{in: in, out: d.hist[:len(d.hist):len(d.hist)], start: len(d.hist), window: d.window, takeover: takeover}
	if err := s.run(); err != nil {
		return Result{}, err
	}
	s.res.Data = append([]byte(nil), s.out[s.start:]...)
	d.hist = s.out
	if len(d.hist) > maxWindow {
		d.hist = append([]byte(nil), d.hist[len(d.hist)-maxWindow:]...)
	}
	return s.res, nil
}

// state decodes one message bit by bit.
type state struct {
	in  []byte
	pos int // in bits

	out      []byte
	start    int // where this message's output begins in out
	window   int
	takeover bool

	res Result
}

var errShort = errors.New("strictflate: deflate data ends early")

func (s *state) bits(n int) (int, error) {
	v := 0
	for i := range n {
		if s.pos >= 8*len(s.in) {
			return 0, errShort
		}
		v |= int(s.in[s.pos>>3]>>(s.pos&7)&1) << i
		s.pos++
	}
	return v, nil
}

// run decodes blocks until the input ends, which must be right after an
// empty stored block.
func (s *state) run() error {
	typ, stored := 0, 0
	for s.pos < 8*len(s.in) {
		final, err := s.bits(1)
		if err != nil {
			return err
		}
		if final != 0 {
			return errors.New("strictflate: final block in a message")
		}
		if typ, err = s.bits(2); err != nil {
			return err
		}
		switch typ {
		case 0:
			stored, err = s.stored()
		case 1:
			err = s.codes(&fixedLit, &fixedDist)
		case 2:
			err = s.dynamic()
		default:
			err = errors.New("strictflate: block type 3 is reserved")
		}
		if err != nil {
			return err
		}
		s.res.Blocks[typ]++
	}
	if typ != 0 || stored != 0 {
		return errors.New("strictflate: message does not end with an empty stored block")
	}
	return nil
}

func (s *state) stored() (int, error) {
	s.pos = (s.pos + 7) &^ 7
	i := s.pos / 8
	if i+4 > len(s.in) {
		return 0, errShort
	}
	n := int(s.in[i]) | int(s.in[i+1])<<8
	if nn := int(s.in[i+2]) | int(s.in[i+3])<<8; nn != n^0xffff {
		return 0, fmt.Errorf("strictflate: stored block length %#x does not match its complement %#x", n, nn)
	}
	i += 4
	if i+n > len(s.in) {
		return 0, errShort
	}
	s.out = append(s.out, s.in[i:i+n]...)
	s.pos = 8 * (i + n)
	return n, nil
}

// tree is a canonical Huffman code: how many codes have each length, and
// the symbols in code order.
type tree struct {
	count [16]int
	syms  []int
}

// newTree builds a tree from code lengths and insists that the code is
// complete. RFC 1951 also permits a distance code of a single one-bit code
// or of none, and zlib's inflate accepts both, but zlib's deflate never
// sends them and neither may the encoders under test.
func newTree(lens []int) (*tree, error) {
	t := &tree{}
	for _, l := range lens {
		t.count[l]++
	}
	t.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - t.count[l]
		if left < 0 {
			return nil, fmt.Errorf("strictflate: over-subscribed Huffman code %v", lens)
		}
	}
	if left != 0 {
		return nil, fmt.Errorf("strictflate: incomplete Huffman code %v", lens)
	}
	for l := 1; l < 16; l++ {
		for sym, sl := range lens {
			if sl == l {
				t.syms = append(t.syms, sym)
			}
		}
	}
	return t, nil
}

// decode reads one symbol; codes are packed starting with their most
// significant bit (RFC 1951 §3.1.1).
func (s *state) decode(t *tree) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := s.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		n := t.count[l]
		if code-first < n {
			return t.syms[index+code-first], nil
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	return 0, errors.New("strictflate: invalid Huffman code")
}

// The length and distance tables of RFC 1951 §3.2.5, indexed by length
// symbol minus 257 and by distance symbol. They are written out here,
// independently of any encoder, so that tests can check an encoder's
// tables against them.
var (
	// LengthBase is the shortest length each length symbol encodes.
	LengthBase = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	// LengthExtra is the number of extra bits after each length symbol.
	LengthExtra = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	// DistBase is the shortest distance each distance symbol encodes.
	DistBase = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	// DistExtra is the number of extra bits after each distance symbol.
	DistExtra = [30]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

var (
	// clOrder is the order of the code length code lengths (§3.2.7).
	clOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	fixedLit, fixedDist = fixedCodes()
)

// fixedCodes builds the codes of §3.2.6. The distance code has 32 codes,
// of which 30 and 31 are invalid, which makes it complete.
func fixedCodes() (tree, tree) {
	lens := make([]int, 288+32)
	for i := range 288 {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	for i := range 32 {
		lens[288+i] = 5
	}
	lit, err := newTree(lens[:288])
	if err != nil {
		panic(err)
	}
	dist, err := newTree(lens[288:])
	if err != nil {
		panic(err)
	}
	return *lit, *dist
}

func (s *state) dynamic() error {
	hlit, err := s.bits(5)
	if err != nil {
		return err
	}
	hdist, err := s.bits(5)
	if err != nil {
		return err
	}
	hclen, err := s.bits(4)
	if err != nil {
		return err
	}
	nlit, ndist := hlit+257, hdist+1
	if nlit > 286 || ndist > 30 {
		return fmt.Errorf("strictflate: dynamic block with %d literal/length and %d distance codes", nlit, ndist)
	}
	var clLens [19]int
	for _, sym := range clOrder[:hclen+4] {
		if clLens[sym], err = s.bits(3); err != nil {
			return err
		}
	}
	cl, err := newTree(clLens[:])
	if err != nil {
		return fmt.Errorf("code length code: %w", err)
	}
	lens := make([]int, 0, nlit+ndist)
	for len(lens) < nlit+ndist {
		sym, err := s.decode(cl)
		if err != nil {
			return err
		}
		rep, val := 1, sym
		switch sym {
		case 16:
			if len(lens) == 0 {
				return errors.New("strictflate: repeat with no previous length")
			}
			val = lens[len(lens)-1]
			r, err := s.bits(2)
			if err != nil {
				return err
			}
			rep = 3 + r
		case 17:
			r, err := s.bits(3)
			if err != nil {
				return err
			}
			rep, val = 3+r, 0
		case 18:
			r, err := s.bits(7)
			if err != nil {
				return err
			}
			rep, val = 11+r, 0
		}
		if len(lens)+rep > nlit+ndist {
			return errors.New("strictflate: code lengths overrun")
		}
		for range rep {
			lens = append(lens, val)
		}
	}
	if lens[256] == 0 {
		return errors.New("strictflate: no code for end of block")
	}
	lit, err := newTree(lens[:nlit])
	if err != nil {
		return fmt.Errorf("literal/length code: %w", err)
	}
	dist, err := newTree(lens[nlit:])
	if err != nil {
		return fmt.Errorf("distance code: %w", err)
	}
	return s.codes(lit, dist)
}

func (s *state) codes(lit, dist *tree) error {
	for {
		sym, err := s.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			s.out = append(s.out, byte(sym))
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return fmt.Errorf("strictflate: invalid length symbol %d", sym)
		}
		sym -= 257
		x, err := s.bits(LengthExtra[sym])
		if err != nil {
			return err
		}
		n := LengthBase[sym] + x
		ds, err := s.decode(dist)
		if err != nil {
			return err
		}
		if ds > 29 {
			return fmt.Errorf("strictflate: invalid distance symbol %d", ds)
		}
		x, err = s.bits(DistExtra[ds])
		if err != nil {
			return err
		}
		d := DistBase[ds] + x
		if d > s.window {
			return fmt.Errorf("strictflate: distance %d is beyond the negotiated window of %d bytes", d, s.window)
		}
		from := len(s.out) - d
		if from < s.start {
			if !s.takeover {
				return fmt.Errorf("strictflate: distance %d reaches %d bytes before the message, without context takeover", d, s.start-from)
			}
			if from < 0 {
				return fmt.Errorf("strictflate: distance %d reaches before anything was sent", d)
			}
			s.res.ReachBack = true
		}
		s.res.Longest = max(s.res.Longest, d)
		for i := range n {
			s.out = append(s.out, s.out[from+i])
		}
	}
}
