package flate

import (
	"encoding/binary"
	"math/bits"
)

// hashMul spreads four input bytes over the table index bits.
const hashMul = 0x1e35a7bd

func load32(b []byte, i int) uint32 {
	return binary.LittleEndian.Uint32(b[i : i+4])
}

// matchLen returns how many leading bytes of b equal those of a;
// len(a) ≥ len(b). It compares 16 bytes per step: most of the time of
// highly compressible input is spent here, on 258-byte matches.
func matchLen(a, b []byte) int {
	a = a[:len(b)]
	n := 0
	for len(b) >= 16 {
		x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		y := binary.LittleEndian.Uint64(a[8:]) ^ binary.LittleEndian.Uint64(b[8:])
		if x|y != 0 {
			if x != 0 {
				return n + bits.TrailingZeros64(x)>>3
			}
			return n + 8 + bits.TrailingZeros64(y)>>3
		}
		a, b = a[16:], b[16:]
		n += 16
	}
	if len(b) >= 8 {
		x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		a, b = a[8:], b[8:]
		n += 8
	}
	for i := range b {
		if a[i] != b[i] {
			return n + i
		}
	}
	return n + len(b)
}

// addMatch records the literals buf[lit:s] and then a match of length l at
// distance d, in the tokens and the histograms.
func (e *Encoder) addMatch(lit, s, l, d int) {
	freq := &e.chunk.lit
	for _, b := range e.buf[lit:s] {
		freq[b]++
	}
	n := s - lit
	for n > tokMaxLits {
		e.tokens = append(e.tokens, tokMaxLits<<tokLitShift|tokNoMatch)
		n -= tokMaxLits
	}
	e.tokens = append(e.tokens, uint32(n)<<tokLitShift|uint32(l-3)<<tokLenShift|uint32(d-1))
	freq[firstLenSym+int(lenInfo[l-3]&31)]++
	e.chunk.dist[distInfo[distIndex(d-1)]&31]++
}

// addLiterals records the chunk's trailing literals buf[lit:end], so that
// the chunk's tokens cover all of it and the next chunk's tokens can follow
// them in the same block.
func (e *Encoder) addLiterals(lit, end int) {
	freq := &e.chunk.lit
	for _, b := range e.buf[lit:end] {
		freq[b]++
	}
	for n := end - lit; n > 0; n -= tokMaxLits {
		e.tokens = append(e.tokens, uint32(min(n, tokMaxLits))<<tokLitShift|tokNoMatch)
	}
}

// floor returns the lowest buffer index a match may copy from. Like zlib,
// which reserves position 0 as its "no entry" value, nothing ever matches
// the first byte of the stream (of the message, without context takeover).
// The loss is at most a byte per message, and it makes the output agree
// with zlib's on the worked examples of RFC 7692 §7.2.3.
func (e *Encoder) floor() int {
	if e.base == 0 {
		return 1
	}
	return 0
}

// parseFast finds matches for buf[start:end] with a single-entry hash table
// and greedy matching. Where no match turns up for a while it probes ever
// fewer positions, so incompressible input costs little more than a copy.
func (e *Encoder) parseFast(start, end int) {
	buf := e.buf[:end]
	tab := e.table
	shift := e.tableShift
	maxDist := e.maxDist
	skip := e.cfg.skip
	insert := e.cfg.insert
	base := e.base
	floor := e.floor()
	last := end - minMatch // the last position with four bytes to hash

	// Positions at the end of the previous chunk could not be hashed
	// until the bytes after them arrived.
	for i := max(e.hashEnd, start-(minMatch-1)); i < start && i <= last; i++ {
		tab[(load32(buf, i)*hashMul)>>shift] = uint16(i + base)
	}

	s, lit := start, start
	for s <= last {
		cur := load32(buf, s)
		h := (cur * hashMul) >> shift
		d := int(uint16(s+base) - tab[h])
		tab[h] = uint16(s + base)
		if uint(d-1) < uint(maxDist) && s-d >= floor && load32(buf, s-d) == cur {
			l := minMatch + matchLen(buf[s-d+minMatch:], buf[s+minMatch:min(end, s+maxMatch)])
			e.addMatch(lit, s, l, d)
			s += l
			lit = s
			for i := s - insert; i < s && i <= last; i++ {
				tab[(load32(buf, i)*hashMul)>>shift] = uint16(i + base)
			}
			continue
		}
		s += 1 + (s-lit)>>skip
	}
	e.addLiterals(lit, end)
}

// parseChain finds matches for buf[start:end] along hash chains, with lazy
// evaluation: a match is only taken if the next position does not start a
// longer one.
func (e *Encoder) parseChain(start, end int) {
	buf := e.buf[:end]
	head, prev := e.table, e.prev
	shift := e.tableShift
	wmask := e.window - 1
	base := e.base
	lazy := e.cfg.lazy
	maxDist := e.maxDist
	floor := e.floor()
	last := end - minMatch

	for i := max(e.hashEnd, start-(minMatch-1)); i < start && i <= last; i++ {
		h := (load32(buf, i) * hashMul) >> shift
		prev[(i+base)&wmask] = head[h]
		head[h] = uint16(i + base)
	}

	s, lit := start, start
	prevLen, prevDist := 0, 0
	for s < end {
		curLen, curDist := 0, 0
		if s <= last {
			h := (load32(buf, s) * hashMul) >> shift
			c := head[h]
			prev[(s+base)&wmask] = c
			head[h] = uint16(s + base)
			// Most positions of poorly compressible input have no
			// candidate in reach; test that before the call.
			if d := int(uint16(s+base) - c); prevLen < lazy && uint(d-1) < uint(maxDist) && s-d >= floor {
				curLen, curDist = e.findMatch(s, d, prevLen, end)
			}
		}
		if prevLen >= minMatch && curLen <= prevLen {
			m := s - 1
			e.addMatch(lit, m, prevLen, prevDist)
			next := m + prevLen
			for i := s + 1; i < next && i <= last; i++ {
				h := (load32(buf, i) * hashMul) >> shift
				prev[(i+base)&wmask] = head[h]
				head[h] = uint16(i + base)
			}
			s = next
			lit = s
			prevLen = 0
			continue
		}
		prevLen, prevDist = curLen, curDist
		s++
	}
	e.addLiterals(lit, end)
}

// findMatch returns the longest match for position s longer than have,
// following the chain from the candidate at distance d, or 0 if there is
// none.
func (e *Encoder) findMatch(s, d, have, end int) (length, dist int) {
	buf := e.buf[:end]
	maxLen := min(maxMatch, end-s)
	best := max(have, minMatch-1)
	if best >= maxLen {
		return 0, 0
	}
	maxD := min(e.maxDist, s-e.floor())
	chain := e.cfg.chain
	if have >= e.cfg.good {
		chain >>= 2
	}
	nice := e.cfg.nice
	wmask := e.window - 1
	sAbs := uint16(s + e.base)
	want := buf[s : s+maxLen]
	first := load32(buf, s)
	for d >= 1 && d <= maxD {
		c := s - d
		if buf[c+best] == want[best] && load32(buf, c) == first {
			l := minMatch + matchLen(buf[c+minMatch:], want[minMatch:])
			if l > best {
				best, dist = l, d
				if l >= nice || l == maxLen {
					break
				}
			}
		}
		chain--
		if chain <= 0 {
			break
		}
		next := int(sAbs - e.prev[(c+e.base)&wmask])
		if next <= d {
			break
		}
		d = next
	}
	if dist == 0 {
		return 0, 0
	}
	return best, dist
}
