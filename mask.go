package wsx

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b in place with the masking key (RFC 6455 §5.3), starting at
// byte pos of the key, and returns the key position after b. Masking is its
// own inverse, so the same call unmasks.
//
// Whole blocks of 64 bytes go through maskBlocks (SSE2 on amd64, 64-bit
// words elsewhere); the rest goes 8 bytes, then 1 byte, at a time.
func mask(key uint32, pos int, b []byte) int {
	end := (pos + len(b)) & 3
	key = bits.RotateLeft32(key, -8*(pos&3))
	if len(b) >= 8 {
		k := uint64(key)<<32 | uint64(key)
		if n := len(b) &^ 63; n > 0 {
			maskBlocks(b[:n], k)
			b = b[n:]
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
		if n := len(src) &^ 63; n > 0 {
			maskCopyBlocks(dst[:n], src[:n], k)
			src, dst = src[n:], dst[n:]
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
