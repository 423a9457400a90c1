package wsx

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// naiveMask is the masking of RFC 6455 §5.3 written out byte by byte: the
// i-th byte is XORed with key octet (pos+i) mod 4, where octet 0 is the
// first key byte on the wire (the lowest byte of header.key).
func naiveMask(key uint32, pos int, b []byte) int {
	octets := [4]byte{byte(key), byte(key >> 8), byte(key >> 16), byte(key >> 24)}
	for i := range b {
		b[i] ^= octets[(pos+i)%4]
	}
	return (pos + len(b)) % 4
}

// maskInput returns n bytes that differ from each other and from run to
// run, so a byte masked with the wrong key octet cannot go unnoticed.
func maskInput(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestMaskMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []uint32{0, 0xffffffff, rfcKey, 0x01020304, r.Uint32(), r.Uint32()}
	for _, key := range keys {
		for n := 0; n <= 300; n++ {
			for pos := 0; pos < 4; pos++ {
				// Offsets make the slice start at every alignment.
				for off := 0; off < 8; off += 3 {
					in := maskInput(r, n+off)[off:]
					want := bytes.Clone(in)
					wantPos := naiveMask(key, pos, want)

					got := bytes.Clone(in)
					if p := mask(key, pos, got); p != wantPos || !bytes.Equal(got, want) {
						t.Fatalf("mask(key %#x, pos %d, %d bytes at offset %d) = %x (pos %d), want %x (pos %d)",
							key, pos, n, off, got, p, want, wantPos)
					}

					// dst has guard bytes after the payload that must stay.
					dst := bytes.Repeat([]byte{0xA5}, n+9)
					src := bytes.Clone(in)
					if p := maskCopy(dst, src, key, pos); p != wantPos || !bytes.Equal(dst[:n], want) {
						t.Fatalf("maskCopy(key %#x, pos %d, %d bytes) = %x (pos %d), want %x (pos %d)",
							key, pos, n, dst[:n], p, want, wantPos)
					}
					if !bytes.Equal(src, in) {
						t.Fatalf("maskCopy modified its source (key %#x, pos %d, %d bytes)", key, pos, n)
					}
					for i, c := range dst[n:] {
						if c != 0xA5 {
							t.Fatalf("maskCopy of %d bytes wrote past the payload at %d", n, n+i)
						}
					}
				}
			}
		}
	}
}

// TestMaskPositionWraps checks that any pos, not only 0..3, is taken
// modulo 4 as the key position.
func TestMaskPositionWraps(t *testing.T) {
	in := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for pos := 0; pos < 12; pos++ {
		want := bytes.Clone(in)
		wantPos := naiveMask(rfcKey, pos%4, want)
		got := bytes.Clone(in)
		if p := mask(rfcKey, pos, got); p != wantPos || !bytes.Equal(got, want) {
			t.Fatalf("pos %d: got %x (pos %d), want %x (pos %d)", pos, got, p, want, wantPos)
		}
	}
}

// TestMaskInPieces checks that a payload masked in two pieces, split
// anywhere, equals the payload masked at once: the reader masks whatever
// arrives from the socket.
func TestMaskInPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	key := r.Uint32()
	for n := 0; n <= 100; n++ {
		in := maskInput(r, n)
		whole := bytes.Clone(in)
		naiveMask(key, 0, whole)
		for split := 0; split <= n; split++ {
			got := bytes.Clone(in)
			pos := mask(key, 0, got[:split])
			mask(key, pos, got[split:])
			if !bytes.Equal(got, whole) {
				t.Fatalf("mask of %d bytes split at %d differs from masking at once", n, split)
			}
			dst := make([]byte, n)
			pos = maskCopy(dst, in[:split], key, 0)
			maskCopy(dst[split:], in[split:], key, pos)
			if !bytes.Equal(dst, whole) {
				t.Fatalf("maskCopy of %d bytes split at %d differs from masking at once", n, split)
			}
		}
	}
	// Many random splits of a large payload.
	in := maskInput(r, 100_000)
	whole := bytes.Clone(in)
	naiveMask(key, 0, whole)
	for round := 0; round < 20; round++ {
		got := bytes.Clone(in)
		pos := 0
		for rest := got; len(rest) > 0; {
			k := min(len(rest), r.IntN(5000))
			pos = mask(key, pos, rest[:k])
			rest = rest[k:]
		}
		if !bytes.Equal(got, whole) {
			t.Fatalf("round %d: masking in random pieces differs from masking at once", round)
		}
	}
}

func TestMaskInvolution(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in := maskInput(r, 4099)
	b := bytes.Clone(in)
	key := r.Uint32()
	mask(key, 2, b)
	if bytes.Equal(b, in) {
		t.Fatal("masking with a random key changed nothing")
	}
	mask(key, 2, b)
	if !bytes.Equal(b, in) {
		t.Fatal("masking twice did not restore the payload")
	}
}
