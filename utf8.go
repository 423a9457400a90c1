package wsx

import "unicode/utf8"

// utf8Validator checks text that arrives in pieces (frames, reads, TCP
// segments) and reports invalid UTF-8 as soon as the first byte that cannot
// start or continue a valid sequence arrives, as RFC 6455 §8.1 asks
// ("fail fast"). It keeps at most three bytes of an unfinished sequence.
type utf8Validator struct {
	pend [4]byte
	n    int // bytes in pend
	need int // total length of the sequence in pend
}

// reset forgets any unfinished sequence.
func (v *utf8Validator) reset() { v.n, v.need = 0, 0 }

// done reports whether the text so far ends on a character boundary.
func (v *utf8Validator) done() bool { return v.n == 0 }

// seqLen returns the length of the sequence lead byte b starts, or 0 if b
// cannot start a sequence.
func seqLen(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b < 0xC2:
		return 0
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	case b < 0xF5:
		return 4
	}
	return 0
}

// validNext reports whether c may follow the bytes in seq[:i] (0 < i < 4)
// of a sequence led by seq[0] (RFC 3629 §4).
func validNext(lead byte, i int, c byte) bool {
	if i == 1 {
		switch lead {
		case 0xE0:
			return c >= 0xA0 && c <= 0xBF
		case 0xED:
			return c >= 0x80 && c <= 0x9F
		case 0xF0:
			return c >= 0x90 && c <= 0xBF
		case 0xF4:
			return c >= 0x80 && c <= 0x8F
		}
	}
	return c >= 0x80 && c <= 0xBF
}

// write checks the next piece p and reports whether everything seen so far
// is valid UTF-8 or a valid prefix of it.
func (v *utf8Validator) write(p []byte) bool {
	for v.n > 0 && len(p) > 0 {
		if !validNext(v.pend[0], v.n, p[0]) {
			return false
		}
		v.pend[v.n] = p[0]
		v.n++
		p = p[1:]
		if v.n == v.need {
			v.n, v.need = 0, 0
		}
	}
	if len(p) == 0 {
		return true
	}
	// Find where a trailing, unfinished sequence starts: look back at
	// most three bytes for a lead byte.
	tail := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c&0xC0 == 0x80 {
			continue // continuation byte
		}
		if l := seqLen(c); l > len(p)-i {
			tail = i
		}
		break
	}
	if !utf8.Valid(p[:tail]) {
		return false
	}
	rest := p[tail:]
	if len(rest) == 0 {
		return true
	}
	v.need = seqLen(rest[0])
	v.pend[0] = rest[0]
	v.n = 1
	for _, c := range rest[1:] {
		if !validNext(v.pend[0], v.n, c) {
			return false
		}
		v.pend[v.n] = c
		v.n++
	}
	return true
}
