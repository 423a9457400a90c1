package wsx

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b in place with the masking key (RFC 6455 §5.3), starting at
// byte pos of the key, and returns the key position after b. Masking is its
// own inverse, so the same call unmasks.
//
// The loop works on 8 bytes at a time (32 per iteration), which the compiler
// turns into plain 64-bit loads, XORs and stores.
func mask(key uint32, pos int, b []byte) int {
	end := (pos + len(b)) & 3
	key = bits.RotateLeft32(key, -8*(pos&3))
	if len(b) >= 8 {
		k := uint64(key)<<32 | uint64(key)
		for len(b) >= 32 {
			v0 := binary.LittleEndian.Uint64(b) ^ k
			v1 := binary.LittleEndian.Uint64(b[8:]) ^ k
			v2 := binary.LittleEndian.Uint64(b[16:]) ^ k
			v3 := binary.LittleEndian.Uint64(b[24:]) ^ k
			binary.LittleEndian.PutUint64(b, v0)
			binary.LittleEndian.PutUint64(b[8:], v1)
			binary.LittleEndian.PutUint64(b[16:], v2)
			binary.LittleEndian.PutUint64(b[24:], v3)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= byte(key)
		key = bits.RotateLeft32(key, -8)
	}
	return end
}

// maskCopy writes src XOR key into dst (len(dst) >= len(src)) and returns
// the key position after src. It saves the client a separate copy when it
// masks a caller's payload into its write buffer.
func maskCopy(dst, src []byte, key uint32, pos int) int {
	end := (pos + len(src)) & 3
	key = bits.RotateLeft32(key, -8*(pos&3))
	dst = dst[:len(src)]
	if len(src) >= 8 {
		k := uint64(key)<<32 | uint64(key)
		// Checking both lengths and slicing both blocks to 32 bytes
		// lets the compiler drop the bounds checks on dst, which
		// otherwise cost more than the XORs.
		for len(src) >= 32 && len(dst) >= 32 {
			s, d := src[:32:32], dst[:32:32]
			v0 := binary.LittleEndian.Uint64(s) ^ k
			v1 := binary.LittleEndian.Uint64(s[8:]) ^ k
			v2 := binary.LittleEndian.Uint64(s[16:]) ^ k
			v3 := binary.LittleEndian.Uint64(s[24:]) ^ k
			binary.LittleEndian.PutUint64(d, v0)
			binary.LittleEndian.PutUint64(d[8:], v1)
			binary.LittleEndian.PutUint64(d[16:], v2)
			binary.LittleEndian.PutUint64(d[24:], v3)
			src, dst = src[32:], dst[32:]
		}
		for len(src) >= 8 && len(dst) >= 8 {
			binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^k)
			src, dst = src[8:], dst[8:]
		}
	}
	for i := range src {
		dst[i] = src[i] ^ byte(key)
		key = bits.RotateLeft32(key, -8)
	}
	return end
}
