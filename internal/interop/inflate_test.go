//go:build linux

package interop

import (
	"errors"
	"fmt"
)

// msgInflater decompresses the permessage-deflate messages (RFC 7692) that
// one side of a connection sent, in order, and checks them against what
// was negotiated for that side: a back-reference may reach no further
// than the window the sender agreed to, and without context takeover not
// before the start of its own message. compress/flate would accept
// either; a peer with a smaller window or without the earlier messages
// would not.
type msgInflater struct {
	takeover   bool // the sender may refer to its earlier messages
	windowBits int  // the sender's LZ77 window, 8 to 15

	hist []byte // the sender's earlier messages, decompressed
}

// inflateResult is one decompressed message and what its references did.
type inflateResult struct {
	data       []byte
	longest    int  // the longest back-reference distance
	reachBack  bool // a reference reached into an earlier message
	references int
}

// message decompresses the payload of one compressed message, its frames'
// payloads joined.
func (m *msgInflater) message(payload []byte) (inflateResult, error) {
	// RFC 7692 §7.2.2: the sender removed the 00 00 FF FF that ends
	// its last sync flush; the receiver appends it again.
	in := append(append([]byte(nil), payload...), 0x00, 0x00, 0xff, 0xff)
	d := &strictInflater{in: in, out: m.hist, start: len(m.hist), window: 1 << m.windowBits, takeover: m.takeover}
	if err := d.run(); err != nil {
		return inflateResult{}, err
	}
	res := inflateResult{
		data:       append([]byte(nil), d.out[d.start:]...),
		longest:    d.longest,
		reachBack:  d.reachBack,
		references: d.references,
	}
	if m.takeover {
		m.hist = d.out
		if len(m.hist) > 1<<15 {
			m.hist = append([]byte(nil), m.hist[len(m.hist)-1<<15:]...)
		}
	}
	return res, nil
}

// strictInflater decodes DEFLATE (RFC 1951) bit by bit.
type strictInflater struct {
	in  []byte
	pos int // in bits

	out      []byte
	start    int // where this message's output begins in out
	window   int
	takeover bool

	longest    int
	reachBack  bool
	references int
}

var errShort = errors.New("deflate data ends early")

func (d *strictInflater) bits(n int) (int, error) {
	v := 0
	for i := 0; i < n; i++ {
		if d.pos >= 8*len(d.in) {
			return 0, errShort
		}
		v |= int(d.in[d.pos>>3]>>(d.pos&7)&1) << i
		d.pos++
	}
	return v, nil
}

// run decodes blocks until a final block, or until the input ends on a
// block boundary, as it does after the sync flush every message ends with.
func (d *strictInflater) run() error {
	for {
		final, err := d.bits(1)
		if err != nil {
			return err
		}
		typ, err := d.bits(2)
		if err != nil {
			return err
		}
		switch typ {
		case 0:
			err = d.stored()
		case 1:
			err = d.codes(&fixedLit, &fixedDist)
		case 2:
			err = d.dynamic()
		default:
			err = errors.New("block type 3 is reserved")
		}
		if err != nil {
			return err
		}
		if final == 1 || d.pos == 8*len(d.in) {
			return nil
		}
	}
}

func (d *strictInflater) stored() error {
	d.pos = (d.pos + 7) &^ 7
	i := d.pos / 8
	if i+4 > len(d.in) {
		return errShort
	}
	n := int(d.in[i]) | int(d.in[i+1])<<8
	if nn := int(d.in[i+2]) | int(d.in[i+3])<<8; nn != n^0xffff {
		return fmt.Errorf("stored block length %#x does not match its complement %#x", n, nn)
	}
	i += 4
	if i+n > len(d.in) {
		return errShort
	}
	d.out = append(d.out, d.in[i:i+n]...)
	d.pos = 8 * (i + n)
	return nil
}

// huffman is a canonical Huffman code: how many codes have each length,
// and the symbols in code order.
type huffman struct {
	count [16]int
	syms  []int
}

func newHuffman(lens []int) (*huffman, error) {
	h := &huffman{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return nil, fmt.Errorf("over-subscribed Huffman code")
		}
	}
	for l := 1; l < 16; l++ {
		for s, sl := range lens {
			if sl == l {
				h.syms = append(h.syms, s)
			}
		}
	}
	return h, nil
}

// decode reads one symbol; codes are packed starting with their most
// significant bit (RFC 1951 §3.1.1).
func (d *strictInflater) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := d.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		n := h.count[l]
		if code-first < n {
			return h.syms[index+code-first], nil
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	return 0, errors.New("invalid Huffman code")
}

var (
	lenBase   = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	// clOrder is the order of the code length code lengths (§3.2.7).
	clOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	fixedLit, fixedDist = fixedCodes()
)

func fixedCodes() (huffman, huffman) {
	lens := make([]int, 288)
	for i := range lens {
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
	lit, _ := newHuffman(lens)
	dl := make([]int, 30)
	for i := range dl {
		dl[i] = 5
	}
	dist, _ := newHuffman(dl)
	return *lit, *dist
}

func (d *strictInflater) dynamic() error {
	hlit, err := d.bits(5)
	if err != nil {
		return err
	}
	hdist, err := d.bits(5)
	if err != nil {
		return err
	}
	hclen, err := d.bits(4)
	if err != nil {
		return err
	}
	nlit, ndist := hlit+257, hdist+1
	if nlit > 286 || ndist > 30 {
		return fmt.Errorf("dynamic block with %d literal and %d distance codes", nlit, ndist)
	}
	var clLens [19]int
	for i := 0; i < hclen+4; i++ {
		if clLens[clOrder[i]], err = d.bits(3); err != nil {
			return err
		}
	}
	cl, err := newHuffman(clLens[:])
	if err != nil {
		return err
	}
	lens := make([]int, 0, nlit+ndist)
	for len(lens) < nlit+ndist {
		sym, err := d.decode(cl)
		if err != nil {
			return err
		}
		rep, val := 1, sym
		switch sym {
		case 16:
			if len(lens) == 0 {
				return errors.New("repeat with no previous length")
			}
			val = lens[len(lens)-1]
			r, err := d.bits(2)
			if err != nil {
				return err
			}
			rep = 3 + r
		case 17, 18:
			val = 0
			n, base := 3, 3
			if sym == 18 {
				n, base = 7, 11
			}
			r, err := d.bits(n)
			if err != nil {
				return err
			}
			rep = base + r
		}
		if len(lens)+rep > nlit+ndist {
			return errors.New("code lengths overrun")
		}
		for range rep {
			lens = append(lens, val)
		}
	}
	if lens[256] == 0 {
		return errors.New("no code for end of block")
	}
	lit, err := newHuffman(lens[:nlit])
	if err != nil {
		return err
	}
	dist, err := newHuffman(lens[nlit:])
	if err != nil {
		return err
	}
	return d.codes(lit, dist)
}

func (d *strictInflater) codes(lit, dist *huffman) error {
	for {
		sym, err := d.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			d.out = append(d.out, byte(sym))
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return fmt.Errorf("invalid length symbol %d", sym)
		}
		sym -= 257
		e, err := d.bits(lenExtra[sym])
		if err != nil {
			return err
		}
		n := lenBase[sym] + e
		ds, err := d.decode(dist)
		if err != nil {
			return err
		}
		if ds > 29 {
			return fmt.Errorf("invalid distance symbol %d", ds)
		}
		e, err = d.bits(distExtra[ds])
		if err != nil {
			return err
		}
		dd := distBase[ds] + e
		d.references++
		d.longest = max(d.longest, dd)
		if dd > d.window {
			return fmt.Errorf("distance %d is beyond the negotiated window of %d bytes", dd, d.window)
		}
		from := len(d.out) - dd
		if from < d.start {
			if !d.takeover {
				return fmt.Errorf("distance %d reaches %d bytes before the message, without context takeover", dd, d.start-from)
			}
			if from < 0 {
				return fmt.Errorf("distance %d reaches before anything was sent", dd)
			}
			d.reachBack = true
		}
		for i := range n {
			d.out = append(d.out, d.out[from+i])
		}
	}
}
