//go:build !amd64

package wsx

import "encoding/binary"

// maskBlocks XORs b, whose length is a multiple of 64, with key repeated.
func maskBlocks(b []byte, key uint64) {
	for len(b) >= 32 {
		v0 := binary.LittleEndian.Uint64(b) ^ key
		v1 := binary.LittleEndian.Uint64(b[8:]) ^ key
		v2 := binary.LittleEndian.Uint64(b[16:]) ^ key
		v3 := binary.LittleEndian.Uint64(b[24:]) ^ key
		binary.LittleEndian.PutUint64(b, v0)
		binary.LittleEndian.PutUint64(b[8:], v1)
		binary.LittleEndian.PutUint64(b[16:], v2)
		binary.LittleEndian.PutUint64(b[24:], v3)
		b = b[32:]
	}
}

// maskCopyBlocks writes src XOR key into dst; len(src) is a multiple of 64
// and len(dst) >= len(src).
func maskCopyBlocks(dst, src []byte, key uint64) {
	for len(src) >= 32 && len(dst) >= 32 {
		s, d := src[:32:32], dst[:32:32]
		v0 := binary.LittleEndian.Uint64(s) ^ key
		v1 := binary.LittleEndian.Uint64(s[8:]) ^ key
		v2 := binary.LittleEndian.Uint64(s[16:]) ^ key
		v3 := binary.LittleEndian.Uint64(s[24:]) ^ key
		binary.LittleEndian.PutUint64(d, v0)
		binary.LittleEndian.PutUint64(d[8:], v1)
		binary.LittleEndian.PutUint64(d[16:], v2)
		binary.LittleEndian.PutUint64(d[24:], v3)
		src, dst = src[32:], dst[32:]
	}
}
