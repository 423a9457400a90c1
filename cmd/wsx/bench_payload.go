package main

import (
	"bytes"
	"fmt"
)

// patternPeriod is how many distinct payload offsets there are: message
// seq is a window of the pattern starting at seq mod patternPeriod, so
// consecutive messages differ everywhere, not only in their number.
const patternPeriod = 251

// payloads makes and checks the messages of echo mode. Message seq starts
// with seq in hexadecimal (its last digits when the message is shorter
// than 16 bytes), and the rest is a window of a fixed pattern that depends
// on seq: text that compresses like prose for text messages, pseudo-random
// bytes for binary ones. Checking an echo is a comparison with memory, so
// it costs about what a copy does.
type payloads struct {
	size    int
	pattern []byte
}

func newPayloads(size int, text bool) *payloads {
	p := &payloads{size: size, pattern: make([]byte, size+patternPeriod)}
	rnd := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 {
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		return rnd
	}
	if !text {
		for i := range p.pattern {
			p.pattern[i] = byte(next() >> 32)
		}
		return p
	}
	words := []string{"the", "echo", "of", "a", "message", "comes", "back", "over", "socket", "frame",
		"with", "every", "byte", "in", "place", "and", "server", "client", "reads", "writes"}
	b := p.pattern[:0]
	for len(b) < cap(b) {
		b = append(b, words[next()%uint64(len(words))]...)
		if next()%8 == 0 {
			b = append(b, ", "...)
		} else {
			b = append(b, ' ')
		}
	}
	p.pattern = b[:len(p.pattern)]
	return p
}

const hexDigits = "0123456789abcdef"

// seqLen is how many bytes at the start of a message hold its number.
func (p *payloads) seqLen() int { return min(16, p.size) }

// putSeq writes the last len(dst) hexadecimal digits of seq into dst.
func putSeq(dst []byte, seq uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[seq&15]
		seq >>= 4
	}
}

// fill writes message seq into dst, which is p.size bytes long.
func (p *payloads) fill(dst []byte, seq uint64) {
	off := int(seq % patternPeriod)
	copy(dst, p.pattern[off:off+p.size])
	putSeq(dst[:p.seqLen()], seq)
}

// check reports whether got is message seq, and if not, how it differs.
func (p *payloads) check(got []byte, seq uint64) (bool, string) {
	n := p.seqLen()
	var num [16]byte
	putSeq(num[:n], seq)
	off := int(seq % patternPeriod)
	if len(got) == p.size && bytes.Equal(got[:n], num[:n]) && bytes.Equal(got[n:], p.pattern[off+n:off+p.size]) {
		return true, ""
	}
	if len(got) != p.size {
		return false, fmt.Sprintf("echo of message %d is %d bytes long, sent %d", seq, len(got), p.size)
	}
	want := make([]byte, p.size)
	p.fill(want, seq)
	i := 0
	for got[i] == want[i] {
		i++
	}
	return false, fmt.Sprintf("echo of message %d differs at byte %d: sent %#02x, got %#02x", seq, i, want[i], got[i])
}
