package flate

import "encoding/binary"

// bitWriter packs DEFLATE's LSB-first bit stream into a byte slice whose
// capacity the caller has checked beforehand, so the hot loops write eight
// bytes at a time without bounds growth. Fewer than 8 bits stay in acc
// between calls of the Encoder.
type bitWriter struct {
	acc uint64
	n   uint
	out []byte // len(out) bytes written; cap(out) ≥ len(out)+8 while writing
}

// bits appends the n low bits of v; n is at most 16.
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	if w.n >= 48 {
		w.flush()
	}
}

// flush moves the whole bytes of acc to out. It writes eight bytes and keeps
// the ones that are complete, so it needs eight bytes of spare capacity.
func (w *bitWriter) flush() {
	o := len(w.out)
	binary.LittleEndian.PutUint64(w.out[o:o+8], w.acc)
	k := w.n >> 3
	w.out = w.out[:o+int(k)]
	w.acc >>= k * 8
	w.n &= 7
}

// align pads to a byte boundary with zero bits and flushes.
func (w *bitWriter) align() {
	w.n = (w.n + 7) &^ 7
	w.flush()
}

// grow makes room for n more bytes plus the slack flush needs.
func (w *bitWriter) grow(n int) {
	need := len(w.out) + n + 8
	if need <= cap(w.out) {
		return
	}
	c := 2 * cap(w.out)
	if c < need {
		c = need
	}
	b := make([]byte, len(w.out), c)
	copy(b, w.out)
	w.out = b
}

// blockKind is the BTYPE of RFC 1951 §3.2.3.
type blockKind int

const (
	blockStored  blockKind = 0
	blockFixed   blockKind = 1
	blockDynamic blockKind = 2
)

// histogram counts the symbols of a block, or of the chunk of input just
// parsed. The end-of-block symbol is always counted once.
type histogram struct {
	lit  [numLitLen]uint32
	dist [numDist]uint32
}

func (h *histogram) reset() {
	*h = histogram{}
	h.lit[endOfBlock] = 1
}

// sum sets h to the histogram of a block made of a and b.
func (h *histogram) sum(a, b *histogram) {
	for i := range h.lit {
		h.lit[i] = a.lit[i] + b.lit[i]
	}
	for i := range h.dist {
		h.dist[i] = a.dist[i] + b.dist[i]
	}
	h.lit[endOfBlock] = 1
}

// cost returns the size in bits of the cheapest encoding of a block with
// histogram h covering n bytes of input, and which block type that is. It
// leaves the dynamic code in e, ready for writeHeader.
func (e *Encoder) cost(h *histogram, n int) (int, blockKind) {
	// Extra bits cost the same in fixed and dynamic blocks.
	extra := 0
	for i, f := range h.lit[firstLenSym:numLitLen] {
		extra += int(f) * int(lenExtraBits[i])
	}
	nd := 0
	for i, f := range h.dist {
		extra += int(f) * int(distExtraBits[i])
		nd += int(f)
	}

	fixed := 3 + extra + 5*nd
	dynamic := 3 + extra + e.buildDynamic(h)
	for i, f := range h.lit {
		fixed += int(f) * int(fixedLit[i]>>codeLenShift)
		dynamic += int(f) * int(e.litLens[i])
	}
	for i, f := range h.dist {
		dynamic += int(f) * int(e.distLens[i])
	}

	kind, cost := blockFixed, fixed
	if dynamic < cost {
		kind, cost = blockDynamic, dynamic
	}
	if n <= 65535 {
		// The padding after the header depends on the bit position;
		// assume the worst for blocks not yet being written.
		stored := 3 + 7 + 32 + 8*n
		if stored <= cost {
			kind, cost = blockStored, stored
		}
	}
	return cost, kind
}

// writeBlock emits buf[start:end], whose symbols are toks and h, as one
// non-final block of whichever type is shortest.
func (e *Encoder) writeBlock(start, end int, toks []uint32, h *histogram) {
	w := &e.bw
	n := end - start
	cost, kind := e.cost(h, n)
	if kind != blockStored && n <= 65535 && 3+int((8-(w.n+3)%8)%8)+32+8*n <= cost {
		kind = blockStored
	}
	w.grow(cost/8 + 2)
	e.lastKind = kind

	switch kind {
	case blockStored:
		w.bits(0, 3)
		w.align()
		o := len(w.out)
		w.out = w.out[:o+4+n]
		binary.LittleEndian.PutUint16(w.out[o:], uint16(n))
		binary.LittleEndian.PutUint16(w.out[o+2:], ^uint16(n))
		copy(w.out[o+4:], e.buf[start:end])
	case blockFixed:
		w.bits(1<<1, 3)
		e.writeTokens(start, toks, &fixedLit, &fixedDist)
	case blockDynamic:
		w.bits(2<<1, 3)
		e.writeHeader()
		canonical(e.litCodes[:], e.litLens[:])
		canonical(e.distCodes[:], e.distLens[:])
		e.writeTokens(start, toks, &e.litCodes, &e.distCodes)
	}
	w.flush()
}

// writeTokens emits the block's symbols and the end-of-block code. The
// tokens cover the block's input exactly.
func (e *Encoder) writeTokens(start int, toks []uint32, lit *[288]hcode, dist *[numDist]hcode) {
	w := &e.bw
	acc, n, out := w.acc, w.n, w.out
	p := start
	buf := e.buf
	// The bit writer is inlined: acc holds fewer than 48 bits at the top
	// of each step, a literal adds at most 15, and a match, up to 48 bits
	// with its extra bits, first flushes acc down to fewer than 8.
	for _, t := range toks {
		lits := int(t >> tokLitShift)
		for _, b := range buf[p : p+lits] {
			c := lit[b]
			acc |= uint64(c&codeMask) << n
			n += uint(c >> codeLenShift)
			if n >= 48 {
				o := len(out)
				binary.LittleEndian.PutUint64(out[o:o+8], acc)
				k := n >> 3
				out = out[:o+int(k)]
				acc >>= k * 8
				n &= 7
			}
		}
		p += lits
		d1 := int(t & tokDistMask)
		if d1 == tokNoMatch {
			continue
		}
		l3 := int(t>>tokLenShift) & 0xff
		p += l3 + 3
		if n >= 16 {
			o := len(out)
			binary.LittleEndian.PutUint64(out[o:o+8], acc)
			k := n >> 3
			out = out[:o+int(k)]
			acc >>= k * 8
			n &= 7
		}
		li := lenInfo[l3]
		c := lit[firstLenSym+int(li&31)]
		acc |= uint64(c&codeMask) << n
		n += uint(c >> codeLenShift)
		acc |= uint64(li>>8) << n
		n += uint(li>>5) & 7
		di := distInfo[distIndex(d1)]
		c = dist[di&31]
		acc |= uint64(c&codeMask) << n
		n += uint(c >> codeLenShift)
		acc |= uint64(uint32(d1)-di>>9) << n
		n += uint(di>>5) & 15
		if n >= 48 {
			o := len(out)
			binary.LittleEndian.PutUint64(out[o:o+8], acc)
			k := n >> 3
			out = out[:o+int(k)]
			acc >>= k * 8
			n &= 7
		}
	}
	w.acc, w.n, w.out = acc, n, out
	c := lit[endOfBlock]
	w.bits(uint64(c&codeMask), uint(c>>codeLenShift))
}

// buildDynamic builds the dynamic codes for the current histograms and the
// run-length coded header that describes them, and returns the header's size
// in bits (after the 3 block header bits).
func (e *Encoder) buildDynamic(h *histogram) int {
	e.hb.lengths(h.lit[:], e.litLens[:numLitLen], maxLitBits)
	e.hb.lengths(h.dist[:], e.distLens[:], maxLitBits)
	nlit := numLitLen
	for nlit > 257 && e.litLens[nlit-1] == 0 {
		nlit--
	}
	ndist := numDist
	for ndist > 1 && e.distLens[ndist-1] == 0 {
		ndist--
	}
	e.nlit, e.ndist = nlit, ndist

	// The code lengths of both trees form one sequence (RFC 1951 §3.2.7),
	// so runs may cross from one to the other.
	seq := e.seq[:0]
	seq = append(seq, e.litLens[:nlit]...)
	seq = append(seq, e.distLens[:ndist]...)
	var freq [numCodeLen]uint32
	cl := e.clArr[:0]
	for i := 0; i < len(seq); {
		v := seq[i]
		run := 1
		for i+run < len(seq) && seq[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				r := min(run, 138)
				cl = append(cl, uint16(18|(r-11)<<5))
				run -= r
			}
			if run >= 3 {
				cl = append(cl, uint16(17|(run-3)<<5))
				run = 0
			}
		} else {
			cl = append(cl, uint16(v))
			run--
			for run >= 3 {
				r := min(run, 6)
				cl = append(cl, uint16(16|(r-3)<<5))
				run -= r
			}
		}
		for ; run > 0; run-- {
			cl = append(cl, uint16(v))
		}
	}
	e.clSyms = cl
	for _, s := range cl {
		freq[s&31]++
	}
	e.hb.lengths(freq[:], e.clLens[:], maxCLBits)
	hclen := numCodeLen
	for hclen > 4 && e.clLens[codeLenOrder[hclen-1]] == 0 {
		hclen--
	}
	e.hclen = hclen
	bitsN := 5 + 5 + 4 + 3*hclen
	bitsN += 2*int(freq[16]) + 3*int(freq[17]) + 7*int(freq[18])
	for i, f := range freq {
		bitsN += int(f) * int(e.clLens[i])
	}
	return bitsN
}

// writeHeader emits the dynamic block header that buildDynamic prepared.
func (e *Encoder) writeHeader() {
	w := &e.bw
	w.bits(uint64(e.nlit-257), 5)
	w.bits(uint64(e.ndist-1), 5)
	w.bits(uint64(e.hclen-4), 4)
	for _, s := range codeLenOrder[:e.hclen] {
		w.bits(uint64(e.clLens[s]), 3)
	}
	var codes [numCodeLen]hcode
	canonical(codes[:], e.clLens[:])
	for _, s := range e.clSyms {
		c := codes[s&31]
		w.bits(uint64(c&codeMask), uint(c>>codeLenShift))
		switch s & 31 {
		case 16:
			w.bits(uint64(s>>5), 2)
		case 17:
			w.bits(uint64(s>>5), 3)
		case 18:
			w.bits(uint64(s>>5), 7)
		}
	}
}
