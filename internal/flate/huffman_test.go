package flate

import (
	"container/heap"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/wsx-go/wsx/internal/test/strictflate"
)

// kraft returns the Kraft sum of the lengths in units of 2^-15 and the
// longest length.
func kraft(lens []uint8) (sum, longest int) {
	for _, l := range lens {
		if l > 0 {
			sum += 1 << (15 - l)
			longest = max(longest, int(l))
		}
	}
	return sum, longest
}

type weights []int

func (h weights) Len() int           { return len(h) }
func (h weights) Less(i, j int) bool { return h[i] < h[j] }
func (h weights) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *weights) Push(x any)        { *h = append(*h, x.(int)) }
func (h *weights) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// optimalCost is the size in bits of freq coded with an unrestricted
// Huffman code: the sum of the weights of all merged nodes.
func optimalCost(freq []uint32) int {
	h := &weights{}
	for _, f := range freq {
		if f > 0 {
			*h = append(*h, int(f))
		}
	}
	heap.Init(h)
	cost := 0
	for h.Len() > 1 {
		a, b := heap.Pop(h).(int), heap.Pop(h).(int)
		cost += a + b
		heap.Push(h, a+b)
	}
	return cost
}

func codeCost(freq []uint32, lens []uint8) int {
	c := 0
	for i, f := range freq {
		c += int(f) * int(lens[i])
	}
	return c
}

// TestLengths checks the code length construction: every code is complete
// and within its limit, every used symbol has a code, and where the limit
// does not bind the code is as short as Huffman's.
func TestLengths(t *testing.T) {
	fib := make([]uint32, 30)
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	r := rand.New(rand.NewPCG(1, 2))
	randFreq := func(n, spread int) []uint32 {
		f := make([]uint32, n)
		for i := range f {
			if r.IntN(4) > 0 {
				f[i] = uint32(1 + r.IntN(spread))
			}
		}
		return f
	}
	skewed := make([]uint32, numCodeLen)
	for i := range skewed {
		skewed[i] = 1 << i
	}
	tests := []struct {
		name    string
		freq    []uint32
		maxBits int
		limited bool // the limit binds, so the code may cost more than Huffman's
	}{
		{"fibonacci", fib, maxLitBits, true},
		{"powers of two, 7 bits", skewed, maxCLBits, true},
		{"uniform 286", func() []uint32 {
			f := make([]uint32, numLitLen)
			for i := range f {
				f[i] = 5
			}
			return f
		}(), maxLitBits, false},
		{"random 286", randFreq(numLitLen, 1000), maxLitBits, false},
		{"random 30", randFreq(numDist, 50), maxLitBits, false},
		{"random 19", randFreq(numCodeLen, 30), maxCLBits, false},
		{"two", []uint32{0, 0, 7, 0, 1}, maxLitBits, false},
	}
	for _, tt := range tests {
		var hb huffBuilder
		lens := make([]uint8, len(tt.freq))
		hb.lengths(tt.freq, lens, tt.maxBits)
		sum, longest := kraft(lens)
		if sum != 1<<15 {
			t.Fatalf("%s: Kraft sum %d/32768, want a complete code: %v", tt.name, sum, lens)
		}
		if longest > tt.maxBits {
			t.Fatalf("%s: code of %d bits, limit %d", tt.name, longest, tt.maxBits)
		}
		for i, f := range tt.freq {
			if f > 0 && lens[i] == 0 {
				t.Fatalf("%s: symbol %d is used but has no code", tt.name, i)
			}
		}
		got, opt := codeCost(tt.freq, lens), optimalCost(tt.freq)
		if !tt.limited && got != opt {
			t.Fatalf("%s: code costs %d bits, Huffman %d", tt.name, got, opt)
		}
		if tt.limited && got < opt {
			t.Fatalf("%s: code costs %d bits, less than Huffman's %d", tt.name, got, opt)
		}
	}
}

// TestLengthsDegenerate checks that trees with fewer than two used symbols
// still get two codes of one bit, which every inflate accepts.
func TestLengthsDegenerate(t *testing.T) {
	for _, used := range []int{-1, 0, 1, 5, numDist - 1} {
		freq := make([]uint32, numDist)
		if used >= 0 {
			freq[used] = 9
		}
		lens := make([]uint8, numDist)
		var hb huffBuilder
		hb.lengths(freq, lens, maxLitBits)
		if sum, longest := kraft(lens); sum != 1<<15 || longest != 1 {
			t.Fatalf("used symbol %d: lengths %v, want two one-bit codes", used, lens)
		}
		if used >= 0 && lens[used] != 1 {
			t.Fatalf("used symbol %d has no code: %v", used, lens)
		}
	}
}

// TestFixedCodes checks the fixed Huffman codes against RFC 1951 §3.2.6.
func TestFixedCodes(t *testing.T) {
	tests := []struct {
		sym  int
		code uint32 // as written in the RFC, most significant bit first
		bits int
	}{
		{0, 0b00110000, 8},
		{143, 0b10111111, 8},
		{144, 0b110010000, 9},
		{255, 0b111111111, 9},
		{256, 0b0000000, 7},
		{279, 0b0010111, 7},
		{280, 0b11000000, 8},
		{287, 0b11000111, 8},
	}
	for _, tt := range tests {
		c := fixedLit[tt.sym]
		gotBits := int(c >> codeLenShift)
		gotCode := uint32(bits.Reverse16(uint16(c&codeMask))) >> (16 - gotBits)
		if gotBits != tt.bits || gotCode != tt.code {
			t.Fatalf("symbol %d: code %0*b (%d bits), want %0*b", tt.sym, gotBits, gotCode, gotBits, tt.bits, tt.code)
		}
	}
}

// TestLengthAndDistanceTables checks the symbol tables against the ranges
// of RFC 1951 §3.2.5, as written out by the strict test decoder.
func TestLengthAndDistanceTables(t *testing.T) {
	for l := 3; l <= maxMatch; l++ {
		li := lenInfo[l-3]
		sym, nextra, extra := int(li&31), int(li>>5&7), int(li>>8)
		if got := strictflate.LengthBase[sym] + extra; got != l || nextra != strictflate.LengthExtra[sym] || extra >= 1<<nextra && nextra > 0 {
			t.Fatalf("length %d: symbol %d extra %d/%d bits decodes to %d", l, 257+sym, extra, nextra, got)
		}
	}
	for d := 1; d <= 32768; d++ {
		di := distInfo[distIndex(d-1)]
		sym, nextra, base := int(di&31), int(di>>5&15), int(di>>9)
		extra := d - 1 - base
		if strictflate.DistBase[sym]+extra != d || nextra != strictflate.DistExtra[sym] || extra < 0 || extra >= 1<<nextra {
			t.Fatalf("distance %d: symbol %d extra %d/%d bits", d, sym, extra, nextra)
		}
	}
}
