// Package flate is a DEFLATE (RFC 1951) compressor made for
// permessage-deflate (RFC 7692).
//
// compress/flate's Writer needs about a megabyte per instance and always
// compresses with a 32 KiB window, while a WebSocket server keeps one
// compressor per connection and may be asked by the client to compress with a
// smaller window (server_max_window_bits / client_max_window_bits). This
// package's Encoder keeps only the window, one chunk of pending input, a
// hash table and the symbols of one block, limits every back-reference to
// the negotiated window, and produces the message framing RFC 7692 §7.2.1
// asks for. Decompression is left to
// compress/flate's reader, which accepts any window up to 32 KiB.
package flate

// chunkSize is how much input the Encoder collects before it looks for
// matches in it. Each chunk either extends the block being built or starts a
// new one, whichever the Huffman costs favour, so blocks follow changes in
// the data at this granularity. The buffer holds the window and one chunk.
const chunkSize = 16 << 10

// openTokens is how many tokens a block may hold and still take another
// chunk, per matcher family. It bounds the token buffer to one chunk's worst
// case plus this. The fast levels keep it small, so only highly compressed
// blocks grow, whose dynamic header is a large part of their size; the
// other levels spend 16 KiB more to let ordinary text blocks grow too,
// saving a header (1–2% of the output) per merged chunk.
const (
	openTokensFast  = 1024
	openTokensChain = 5120
)

// chunkTokens is the most tokens one chunk can produce: a match per
// minMatch bytes, or a literals-only token per tokMaxLits bytes.
const chunkTokens = chunkSize/minMatch + chunkSize/tokMaxLits + 2

// Token layout: a token is a run of literals optionally followed by a match.
// Literals are not copied: they are read back from the buffer when the block
// is written, so the token array stays a quarter of the input size.
const (
	tokLitShift = 23     // bits 23–31: number of literals before the match
	tokLenShift = 15     // bits 15–22: match length minus 3
	tokDistMask = 0x7fff // bits 0–14: match distance minus 1
	tokNoMatch  = 0x7fff // distance field of a literals-only token; no distance is 32768
	tokMaxLits  = 511
)

// levelConfig is the matcher tuning of one compression level.
type levelConfig struct {
	chain  int  // hash chain candidates to try; 0 selects the single-entry fast matcher
	lazy   int  // look for a longer match at the next byte while the current one is shorter than this
	good   int  // quarter the chain once a match this long is in hand
	nice   int  // stop searching once a match this long is found
	skip   uint // fast matcher: the step grows by one every 1<<skip bytes without a match
	insert int  // fast matcher: how many positions at the end of a match to hash
}

// levels holds the tuning of levels 1–9. The chain levels follow the same
// progression of effort as zlib's levels 4–9.
var levels = [10]levelConfig{
	1: {skip: 4, insert: 1},
	2: {skip: 5, insert: 2},
	3: {skip: 6, insert: 3},
	4: {chain: 16, lazy: minMatch, good: 4, nice: 16},
	5: {chain: 32, lazy: 16, good: 8, nice: 32},
	6: {chain: 128, lazy: 16, good: 8, nice: 128},
	7: {chain: 256, lazy: 32, good: 8, nice: 128},
	8: {chain: 1024, lazy: 128, good: 32, nice: maxMatch},
	9: {chain: 4096, lazy: maxMatch, good: 32, nice: maxMatch},
}

// DefaultLevel is the level NewEncoder uses for level 0. It is one of the
// fast levels: per-message compression runs on the connection's writing
// goroutine, so speed matters more than the last few percent of ratio.
const DefaultLevel = 2

// Encoder compresses the messages of one direction of one connection.
//
// Its memory is allocated once by NewEncoder: about 1.5×2^windowBits +
// 50 KiB for levels 1–3 (96 KiB at windowBits 15) and 4×2^windowBits +
// 68 KiB for levels 4–9 (195 KiB at 15), against about 1 MiB for a
// compress/flate Writer. Write and Finish do not allocate when dst has room.
// An Encoder is not safe for concurrent use.
type Encoder struct {
	// buf[0:pend] is input already parsed into tokens, buf[pend:end] the
	// chunk being collected. buf[blockStart:pend] is the block being built:
	// parsed but not yet written, its literals still read from buf.
	buf        []byte
	blockStart int
	pend       int
	end        int
	hashEnd    int // positions below hashEnd were hashed or deliberately skipped

	window  int // 1 << windowBits
	maxDist int // longest distance a match may use: window-1
	cfg     levelConfig

	// table is the fast matcher's one-entry-per-hash table, or the head of
	// the hash chains; prev links a position to the previous one with the
	// same hash, indexed by position mod window. Both hold absolute stream
	// positions (base+index into buf) truncated to 16 bits: the distance to
	// a candidate is their 16-bit difference, which is exact for every
	// distance a window allows, so sliding buf never rewrites the tables.
	// A stale entry only yields a candidate whose bytes do not match.
	base       int
	table      []uint16
	prev       []uint16
	tableShift uint

	tokens     []uint32  // tokens of the block being built, then of the chunk just parsed
	openTokens int       // a block with more tokens than this is written before the next chunk
	block      histogram // symbols of buf[blockStart:pend]
	chunk      histogram // symbols of the chunk just parsed
	merged     histogram // block and chunk together
	blockCost  int       // size of the block being built in bits, or -1 if not known yet

	litLens   [288]uint8
	distLens  [numDist]uint8
	litCodes  [288]hcode
	distCodes [numDist]hcode
	clLens    [numCodeLen]uint8
	seq       [numLitLen + numDist]uint8
	clArr     [numLitLen + numDist]uint16
	clSyms    []uint16
	nlit      int
	ndist     int
	hclen     int
	hb        huffBuilder

	bw       bitWriter
	lastKind blockKind
}

// NewEncoder returns an encoder whose back-references never reach further
// than 2^windowBits-1 bytes, so that a peer which negotiated a smaller window
// (RFC 7692 §7.1.2) can decode it. windowBits is clamped to 8..15.
//
// level trades speed for ratio: 1–3 use a single-entry hash table and greedy
// matching (fast, little memory), 4–9 use hash chains of growing depth and
// lazy matching. 0 means DefaultLevel; other values are clamped to 1..9.
func NewEncoder(windowBits, level int) *Encoder {
	windowBits = min(max(windowBits, 8), 15)
	if level == 0 {
		level = DefaultLevel
	}
	level = min(max(level, 1), 9)
	e := &Encoder{
		window:  1 << windowBits,
		maxDist: 1<<windowBits - 1,
		cfg:     levels[level],
	}
	e.buf = make([]byte, e.window+chunkSize)
	// A table much larger than the window mostly holds positions too old
	// to use; these sizes cost well under a percent of ratio against
	// tables twice as large.
	tableBits := min(max(windowBits-2, 9), 13)
	if e.cfg.chain > 0 {
		tableBits = min(max(windowBits-1, 9), 14)
		e.prev = make([]uint16, e.window)
	}
	e.table = make([]uint16, 1<<tableBits)
	e.tableShift = uint(32 - tableBits)
	e.openTokens = openTokensFast
	if e.cfg.chain > 0 {
		e.openTokens = openTokensChain
	}
	e.tokens = make([]uint32, 0, e.openTokens+chunkTokens)
	e.Reset()
	return e
}

// Write appends to dst the compressed form of p, the next piece of the
// current message, and returns dst. Up to one chunk of input plus one block
// under construction (together at most 2^windowBits+16 KiB) may stay
// pending, so that a message written in small pieces still gets blocks large
// enough to pay for their Huffman tables; Finish emits them.
func (e *Encoder) Write(dst, p []byte) []byte {
	e.bw.out = dst
	for len(p) > 0 {
		pending := e.end - e.pend
		if pending == chunkSize {
			e.compress()
			continue
		}
		n := min(len(p), chunkSize-pending)
		if e.end+n > len(e.buf) {
			e.slide(n)
		}
		copy(e.buf[e.end:], p[:n])
		e.end += n
		p = p[n:]
	}
	dst = e.bw.out
	e.bw.out = nil
	return dst
}

// Finish ends the current message: it emits the pending input as non-final
// blocks, then the 3 header bits of an empty stored block and zero bits up
// to a byte boundary. That is a sync flush without its final 00 00 ff ff,
// which RFC 7692 §7.2.1 removes from every message. With takeover the last
// 2^windowBits bytes stay available to the next message's matches (context
// takeover, RFC 7692 §7.1.1); without it they are forgotten, as a peer that
// asked for no_context_takeover resets its decoder.
func (e *Encoder) Finish(dst []byte, takeover bool) []byte {
	e.bw.out = dst
	if e.end > e.pend {
		e.compress()
	}
	e.flushBlock()
	e.bw.grow(2)
	e.bw.bits(0, 3)
	e.bw.align()
	dst = e.bw.out
	e.bw.out = nil
	if !takeover {
		e.blockStart, e.pend, e.end, e.hashEnd, e.base = 0, 0, 0, 0, 0
	}
	return dst
}

// Reset drops history, pending input and unwritten bits, so the next Write
// starts a new stream as if the Encoder were new.
func (e *Encoder) Reset() {
	e.blockStart, e.pend, e.end, e.hashEnd, e.base = 0, 0, 0, 0, 0
	e.bw = bitWriter{}
	e.tokens = e.tokens[:0]
	e.block.reset()
	e.blockCost = -1
	clear(e.table)
	clear(e.prev)
}

// compress parses the collected chunk and adds it to the block being built,
// or writes that block and starts a new one with the chunk, whichever makes
// the output shorter.
func (e *Encoder) compress() {
	if len(e.tokens) > e.openTokens {
		e.flushBlock()
	}
	mark := len(e.tokens)
	e.chunk.reset()
	if e.cfg.chain > 0 {
		e.parseChain(e.pend, e.end)
	} else {
		e.parseFast(e.pend, e.end)
	}
	e.hashEnd = max(e.end-(minMatch-1), 0)

	if e.blockStart == e.pend {
		e.block = e.chunk
		e.blockCost = -1
		e.pend = e.end
		return
	}
	if e.blockCost < 0 {
		e.blockCost, _ = e.cost(&e.block, e.pend-e.blockStart)
	}
	chunkCost, _ := e.cost(&e.chunk, e.end-e.pend)
	e.merged.sum(&e.block, &e.chunk)
	mergedCost, _ := e.cost(&e.merged, e.end-e.blockStart)
	if mergedCost <= e.blockCost+chunkCost {
		e.block = e.merged
		e.blockCost = mergedCost
	} else {
		e.writeBlock(e.blockStart, e.pend, e.tokens[:mark], &e.block)
		n := copy(e.tokens, e.tokens[mark:])
		e.tokens = e.tokens[:n]
		e.block = e.chunk
		e.blockCost = chunkCost
		e.blockStart = e.pend
	}
	e.pend = e.end
}

// flushBlock writes the block being built, if any.
func (e *Encoder) flushBlock() {
	if e.blockStart < e.pend {
		e.writeBlock(e.blockStart, e.pend, e.tokens, &e.block)
	}
	e.blockStart = e.pend
	e.tokens = e.tokens[:0]
	e.block.reset()
	e.blockCost = -1
}

// slide makes room for n more bytes by moving what must stay to the front of
// buf: the last window bytes before the chunk being collected, and the
// block being built if it starts earlier. If keeping that block would not
// leave room, it is written first. slide runs about once per chunk.
func (e *Encoder) slide(n int) {
	keep := e.pend - e.window
	if e.blockStart < keep {
		if e.end-e.blockStart+n <= len(e.buf) {
			keep = e.blockStart
		} else {
			e.flushBlock()
		}
	}
	if keep <= 0 {
		// Cannot happen: buf holds window+chunkSize bytes and at most
		// chunkSize are being collected.
		panic("flate: slide without history to drop")
	}
	copy(e.buf, e.buf[keep:e.end])
	e.blockStart -= keep
	e.pend -= keep
	e.end -= keep
	e.hashEnd = max(e.hashEnd-keep, 0)
	e.base += keep
}
