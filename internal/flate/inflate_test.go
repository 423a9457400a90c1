package flate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// inflater is a deliberately strict, slow DEFLATE decoder for tests. Unlike
// compress/flate it reports what it saw (block types, the longest distance)
// and rejects what some decoders tolerate: incomplete Huffman codes, final
// blocks, and back-references longer than the negotiated window or reaching
// back before the start of a message sent without context takeover.
type inflater struct {
	in  []byte
	pos int // bit position in in

	out     []byte
	floor   int // references must not reach before out[floor]
	maxDist int // longest distance allowed

	longest int // longest distance seen
	matches int
	blocks  [3]int // per BTYPE

	lastType   int
	lastStored int
}

var errInput = errors.New("inflate: unexpected end of input")

func (f *inflater) bits(n int) (int, error) {
	v := 0
	for i := range n {
		if f.pos >= 8*len(f.in) {
			return 0, errInput
		}
		v |= int(f.in[f.pos>>3]>>(f.pos&7)&1) << i
		f.pos++
	}
	return v, nil
}

// tree is a canonical Huffman code as counts per length and the symbols in
// code order.
type tree struct {
	count [16]int
	syms  []int
}

// newTree builds a tree from code lengths and insists that the code is
// complete, which is what zlib's inflate requires of every code with more
// than one symbol.
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
			return nil, fmt.Errorf("inflate: over-subscribed code %v", lens)
		}
	}
	if left != 0 {
		return nil, fmt.Errorf("inflate: incomplete code %v", lens)
	}
	for l := 1; l < 16; l++ {
		for s, sl := range lens {
			if sl == l {
				t.syms = append(t.syms, s)
			}
		}
	}
	return t, nil
}

func (f *inflater) decode(t *tree) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := f.bits(1)
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
	return 0, errors.New("inflate: bad code")
}

var (
	lenBase   = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// message decodes one RFC 7692 message: the bytes as sent plus the
// 00 00 ff ff that the receiver appends. The input must end exactly with
// that empty stored block.
func (f *inflater) message(msg []byte, takeover bool) ([]byte, error) {
	if !takeover {
		f.floor = len(f.out)
	}
	f.in = append(append([]byte(nil), msg...), 0, 0, 0xff, 0xff)
	f.pos = 0
	start := len(f.out)
	for f.pos < 8*len(f.in) {
		final, err := f.bits(1)
		if err != nil {
			return nil, err
		}
		if final != 0 {
			return nil, errors.New("inflate: final block in a message")
		}
		typ, err := f.bits(2)
		if err != nil {
			return nil, err
		}
		if typ == 3 {
			return nil, errors.New("inflate: reserved block type")
		}
		f.blocks[typ]++
		f.lastType = typ
		switch typ {
		case 0:
			err = f.stored()
		case 1:
			err = f.fixed()
		case 2:
			err = f.dynamic()
		}
		if err != nil {
			return nil, err
		}
	}
	if f.lastType != 0 || f.lastStored != 0 {
		return nil, errors.New("inflate: message does not end with an empty stored block")
	}
	return f.out[start:], nil
}

func (f *inflater) stored() error {
	f.pos = (f.pos + 7) &^ 7
	p := f.pos >> 3
	if p+4 > len(f.in) {
		return errInput
	}
	n := int(f.in[p]) | int(f.in[p+1])<<8
	nn := int(f.in[p+2]) | int(f.in[p+3])<<8
	if n != ^nn&0xffff {
		return errors.New("inflate: stored length check")
	}
	if p+4+n > len(f.in) {
		return errInput
	}
	f.out = append(f.out, f.in[p+4:p+4+n]...)
	f.lastStored = n
	f.pos = 8 * (p + 4 + n)
	return nil
}

func (f *inflater) fixed() error {
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
		return err
	}
	dist, err := newTree(lens[288:])
	if err != nil {
		return err
	}
	return f.codes(lit, dist)
}

func (f *inflater) dynamic() error {
	nlit, err := f.bits(5)
	if err != nil {
		return err
	}
	ndist, err := f.bits(5)
	if err != nil {
		return err
	}
	nclen, err := f.bits(4)
	if err != nil {
		return err
	}
	nlit += 257
	ndist++
	nclen += 4
	if nlit > 286 || ndist > 30 {
		return fmt.Errorf("inflate: %d lit/len and %d distance codes", nlit, ndist)
	}
	cl := make([]int, 19)
	for _, s := range codeLenOrder[:nclen] {
		if cl[s], err = f.bits(3); err != nil {
			return err
		}
	}
	clt, err := newTree(cl)
	if err != nil {
		return fmt.Errorf("code length code: %w", err)
	}
	lens := make([]int, 0, nlit+ndist)
	for len(lens) < nlit+ndist {
		sym, err := f.decode(clt)
		if err != nil {
			return err
		}
		rep, val := 1, sym
		switch sym {
		case 16:
			if len(lens) == 0 {
				return errors.New("inflate: repeat with no previous length")
			}
			val = lens[len(lens)-1]
			r, err := f.bits(2)
			if err != nil {
				return err
			}
			rep = 3 + r
		case 17:
			r, err := f.bits(3)
			if err != nil {
				return err
			}
			rep, val = 3+r, 0
		case 18:
			r, err := f.bits(7)
			if err != nil {
				return err
			}
			rep, val = 11+r, 0
		}
		if len(lens)+rep > nlit+ndist {
			return errors.New("inflate: code lengths overrun")
		}
		for range rep {
			lens = append(lens, val)
		}
	}
	if lens[256] == 0 {
		return errors.New("inflate: no end-of-block code")
	}
	lit, err := newTree(lens[:nlit])
	if err != nil {
		return fmt.Errorf("lit/len code: %w", err)
	}
	dist, err := newTree(lens[nlit:])
	if err != nil {
		return fmt.Errorf("distance code: %w", err)
	}
	return f.codes(lit, dist)
}

func (f *inflater) codes(lit, dist *tree) error {
	for {
		sym, err := f.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			f.out = append(f.out, byte(sym))
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return fmt.Errorf("inflate: length symbol %d", sym)
		}
		x, err := f.bits(lenExtra[sym-257])
		if err != nil {
			return err
		}
		n := lenBase[sym-257] + x
		ds, err := f.decode(dist)
		if err != nil {
			return err
		}
		if ds >= 30 {
			return fmt.Errorf("inflate: distance symbol %d", ds)
		}
		x, err = f.bits(distExtra[ds])
		if err != nil {
			return err
		}
		d := distBase[ds] + x
		if d > f.maxDist {
			return fmt.Errorf("inflate: distance %d beyond the window (max %d)", d, f.maxDist)
		}
		if d > len(f.out)-f.floor {
			return fmt.Errorf("inflate: distance %d reaches %d bytes before the message's history", d, d-(len(f.out)-f.floor))
		}
		f.longest = max(f.longest, d)
		f.matches++
		for range n {
			f.out = append(f.out, f.out[len(f.out)-d])
		}
	}
}

// TestInflater checks the test decoder itself on the worked examples of
// RFC 7692 §7.2.3, and that it rejects what it is meant to catch.
func TestInflater(t *testing.T) {
	first := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	second := []byte{0xf2, 0x00, 0x11, 0x00, 0x00} // "H", then length 4 at distance 5
	stored := []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}
	tests := []struct {
		name     string
		maxDist  int
		msgs     [][]byte
		takeover bool // for the second message
		wantErr  string
	}{
		{"shared window", 32767, [][]byte{first, second}, true, ""},
		{"stored block", 32767, [][]byte{stored}, true, ""},
		{"window too small", 4, [][]byte{first, second}, true, "beyond the window"},
		{"no context takeover", 32767, [][]byte{first, second}, false, "before the message's history"},
		{"no trailing empty block", 32767, [][]byte{first[:6]}, true, "end"},
	}
	for _, tt := range tests {
		f := &inflater{maxDist: tt.maxDist}
		var err error
		var got []byte
		for i, m := range tt.msgs {
			var out []byte
			if out, err = f.message(m, i == 0 || tt.takeover); err != nil {
				break
			}
			got = append(got, out...)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", tt.name, err)
		case tt.wantErr == "" && !bytes.Equal(got, bytes.Repeat([]byte("Hello"), len(tt.msgs))):
			t.Fatalf("%s: decoded %q", tt.name, got)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Fatalf("%s: error %v, want one mentioning %q", tt.name, err, tt.wantErr)
		}
	}
}
