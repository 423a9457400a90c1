package flate

import (
	"math/bits"
	"slices"
)

// Alphabet sizes and code length limits of RFC 1951 §3.2.5–3.2.7.
const (
	numLitLen    = 286 // literal/length symbols that may appear in a block
	numDist      = 30  // distance symbols that may appear in a block
	numCodeLen   = 19  // code length alphabet of the dynamic block header
	maxLitBits   = 15  // longest literal/length or distance code
	maxCLBits    = 7   // longest code length code (3-bit HCLEN fields)
	endOfBlock   = 256 // literal/length symbol that ends a block
	firstLenSym  = 257 // literal/length symbol of match length 3
	minMatch     = 4   // shortest match the matchers report
	maxMatch     = 258 // longest match DEFLATE can express
	codeMask     = 0xffff
	codeLenShift = 16
)

// hcode is one symbol's Huffman code: the code with its bits already reversed
// (DEFLATE sends Huffman codes most significant bit first into an LSB-first
// bit stream) in the low 16 bits, and its length in bits above them.
type hcode uint32

func newHcode(code, length uint32) hcode {
	return hcode(uint32(bits.Reverse16(uint16(code)))>>(16-length) | length<<codeLenShift)
}

// lenInfo maps a match length minus 3 to its symbol offset from 257 (bits
// 0–4), its extra bit count (bits 5–7) and its extra bit value (bits 8–12),
// so the block writer needs one lookup per length.
var lenInfo [maxMatch - 2]uint16

// distInfo maps a distance minus one to its symbol (bits 0–4), extra bit
// count (bits 5–8) and the base that the extra bits are added to (bits 9–),
// indexed as distIndex describes.
var distInfo [512]uint32

// lenExtraBits and distExtraBits are the extra bit counts per symbol
// (RFC 1951 §3.2.5), used to price a block without walking its matches.
var (
	lenExtraBits  [29]uint8
	distExtraBits [numDist]uint8
)

// fixedLit and fixedDist are the codes of a fixed Huffman block
// (RFC 1951 §3.2.6).
var (
	fixedLit  [288]hcode
	fixedDist [numDist]hcode
)

// codeLenOrder is the order in which the header sends code length code
// lengths (RFC 1951 §3.2.7).
var codeLenOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func init() {
	// Length symbols 257..284 cover lengths 3..257 in groups of 4 << k,
	// symbol 285 is length 258 alone.
	base := 0
	for sym := 0; sym < 28; sym++ {
		extra := 0
		if sym >= 8 {
			extra = sym/4 - 1
		}
		lenExtraBits[sym] = uint8(extra)
		for v := 0; v < 1<<extra; v++ {
			lenInfo[base+v] = uint16(sym | extra<<5 | v<<8)
		}
		base += 1 << extra
	}
	lenInfo[maxMatch-3] = 28
	lenExtraBits[28] = 0

	// Distance symbols: 0..3 are distances 1..4, then pairs of symbols per
	// extra bit count.
	dbase := 0
	for sym := 0; sym < numDist; sym++ {
		extra := 0
		if sym >= 4 {
			extra = sym/2 - 1
		}
		distExtraBits[sym] = uint8(extra)
		for v := 0; v < 1<<extra; v++ {
			d := dbase + v
			var i int
			if d < 256 {
				i = d
			} else if v&127 == 0 {
				i = 256 + d>>7
			} else {
				continue
			}
			distInfo[i] = uint32(sym | extra<<5 | dbase<<9)
		}
		dbase += 1 << extra
	}

	var lens [288]uint8
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
	canonical(fixedLit[:], lens[:])
	var dl [numDist]uint8
	for i := range dl {
		dl[i] = 5
	}
	canonical(fixedDist[:], dl[:])
}

// distIndex returns the distInfo index of a distance minus one (< 32768).
func distIndex(d1 int) int {
	if d1 < 256 {
		return d1
	}
	return 256 + d1>>7
}

// canonical assigns canonical codes (RFC 1951 §3.2.2) to the lengths.
func canonical(codes []hcode, lens []uint8) {
	var count [maxLitBits + 1]uint32
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxLitBits + 1]uint32
	code := uint32(0)
	for b := 1; b <= maxLitBits; b++ {
		code = (code + count[b-1]) << 1
		next[b] = code
	}
	for i, l := range lens {
		if l == 0 {
			codes[i] = 0
			continue
		}
		codes[i] = newHcode(next[l], uint32(l))
		next[l]++
	}
}

// huffBuilder holds the scratch space for building length-limited Huffman
// codes, so that building one allocates nothing.
type huffBuilder struct {
	keys   [numLitLen]uint32 // frequency<<9 | symbol, sorted ascending
	weight [numLitLen]uint32 // weights of internal nodes in creation order
	parent [2 * numLitLen]uint16
	depth  [numLitLen]uint16
}

// lengths sets lens[i] to the length of symbol i's code in a Huffman code
// for freq, no longer than maxBits. Unused symbols get 0. At least two
// symbols always get a code: a one-symbol code is incomplete, which zlib's
// inflate accepts only in some trees, so a dummy symbol keeps every tree
// complete.
func (b *huffBuilder) lengths(freq []uint32, lens []uint8, maxBits int) {
	n := 0
	for i, f := range freq {
		lens[i] = 0
		if f != 0 {
			b.keys[n] = f<<9 | uint32(i)
			n++
		}
	}
	if n < 2 {
		// Pair the used symbol (if any) with symbol 0 or 1.
		used := -1
		if n == 1 {
			used = int(b.keys[0] & 511)
		}
		lens[0], lens[1] = 1, 1
		if used > 1 {
			lens[1] = 0
			lens[used] = 1
		}
		return
	}
	keys := b.keys[:n]
	slices.Sort(keys)

	// Two-queue construction: leaves in ascending weight, internal nodes
	// are created in ascending weight too, so the two smallest nodes are
	// always at the front of the two queues. parent[0:n] are the leaves'
	// parents, parent[n:] the internal nodes'.
	leaf, node := 0, 0
	for j := 0; j < n-1; j++ {
		var sum uint32
		for range 2 {
			if leaf < n && (node == j || keys[leaf]>>9 <= b.weight[node]) {
				b.parent[leaf] = uint16(j)
				sum += keys[leaf] >> 9
				leaf++
			} else {
				b.parent[n+node] = uint16(j)
				sum += b.weight[node]
				node++
			}
		}
		b.weight[j] = sum
	}
	root := n - 2
	b.depth[root] = 0
	for j := root - 1; j >= 0; j-- {
		b.depth[j] = b.depth[b.parent[n+j]] + 1
	}

	// Count leaves per length, clamping the deep ones to maxBits.
	var count [maxLitBits + 1]uint32
	for i := range n {
		l := int(b.depth[b.parent[i]]) + 1
		if l > maxBits {
			l = maxBits
		}
		count[l]++
	}
	// Clamping made the code over-subscribed: the Kraft sum, in units of
	// 2^-maxBits, exceeds 2^maxBits. Each step turns the deepest leaf above
	// maxBits into a node holding itself and one leaf taken from the
	// maxBits level, which lowers the sum by exactly one unit.
	kraft := uint32(0)
	for l := 1; l <= maxBits; l++ {
		kraft += count[l] << (maxBits - l)
	}
	for kraft > 1<<maxBits {
		l := maxBits - 1
		for count[l] == 0 {
			l--
		}
		count[l]--
		count[l+1] += 2
		count[maxBits]--
		kraft--
	}
	// Longest codes to the rarest symbols.
	i := 0
	for l := maxBits; l >= 1; l-- {
		for c := count[l]; c > 0; c-- {
			lens[keys[i]&511] = uint8(l)
			i++
		}
	}
}
