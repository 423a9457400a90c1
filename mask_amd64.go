package wsx

// maskBlocks and maskCopyBlocks mask 64 bytes at a time (mask_amd64.s).
// The length of b, and of src, is a multiple of 64.

//go:noescape
func maskBlocks(b []byte, key uint64)

//go:noescape
func maskCopyBlocks(dst, src []byte, key uint64)
