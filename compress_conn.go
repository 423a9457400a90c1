package wsx

import (
	stdflate "compress/flate"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/wsx-go/wsx/internal/flate"
)

// deflateState is a connection's permessage-deflate state. Its write side
// is guarded by msgLock, its read side by readLock.
type deflateState struct {
	cfg       deflateConfig
	level     int
	threshold int

	// Writing: enc is held for the connection's life only with write
	// context takeover; otherwise one comes from a pool per message.
	enc *flate.Encoder

	// Reading.
	fr   io.ReadCloser // decompressor, from a pool while a message is read
	src  inflateSource
	dict []byte // the read window, kept only with read context takeover
	out  int64  // decompressed bytes of the current message
}

func newDeflateState(c *Conn, cfg deflateConfig, level, threshold int) *deflateState {
	if level < 0 || level > 9 {
		level = 0
	}
	switch {
	case threshold == 0:
		threshold = DefaultCompressionThreshold
	case threshold < 0:
		threshold = 0
	}
	d := &deflateState{cfg: cfg, level: level, threshold: threshold}
	d.src.c = c
	return d
}

// encoderPools hold encoders for messages written without context
// takeover, one pool per window size and level.
var encoderPools [16][10]sync.Pool

func (d *deflateState) encoder() *flate.Encoder {
	if d.enc != nil {
		return d.enc
	}
	if d.cfg.writeTakeover {
		d.enc = flate.NewEncoder(d.cfg.writeBits, d.level)
		return d.enc
	}
	if e, ok := encoderPools[d.cfg.writeBits][d.level].Get().(*flate.Encoder); ok {
		return e
	}
	return flate.NewEncoder(d.cfg.writeBits, d.level)
}

// finish ends a message on enc and returns a pooled encoder.
func (d *deflateState) finish(enc *flate.Encoder, dst []byte) []byte {
	dst = enc.Finish(dst, d.cfg.writeTakeover)
	if !d.cfg.writeTakeover {
		encoderPools[d.cfg.writeBits][d.level].Put(enc)
	}
	return dst
}

// compressBufs hold the output buffers of whole compressed messages.
var compressBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

// maxPooledCompressBuf keeps one huge message from pinning its buffer.
const maxPooledCompressBuf = 1 << 20

// putCompressBuf returns a compression buffer, grown to b, to its pool.
func putCompressBuf(bp *[]byte, b []byte) {
	if cap(b) > maxPooledCompressBuf {
		return
	}
	*bp = b[:0]
	compressBufs.Put(bp)
}

var inflaters = sync.Pool{New: func() any { return stdflate.NewReader(nil) }}

// deflateTail ends a message's compressed data for the decompressor: the
// 00 00 FF FF that RFC 7692 §7.2.2 says to append, then an empty final
// stored block so the decompressor reports a clean end of stream.
var deflateTail = [...]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflateSource feeds the decompressor a message's payload, unmasked,
// frame after frame, then deflateTail. It is an io.ByteReader so the
// decompressor reads it directly, without a buffer of its own.
type inflateSource struct {
	c       *Conn
	rawDone bool
	tail    int
	one     [1]byte
}

func (s *inflateSource) reset() {
	s.rawDone = false
	s.tail = 0
}

func (s *inflateSource) Read(p []byte) (int, error) {
	if !s.rawDone {
		n, err := s.c.readRaw(p)
		if err == io.EOF {
			s.rawDone = true
			if n > 0 {
				return n, nil
			}
		} else {
			return n, err
		}
	}
	n := copy(p, deflateTail[s.tail:])
	s.tail += n
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (s *inflateSource) ReadByte() (byte, error) {
	c := s.c
	if !s.rawDone && c.frameLeft > 0 && c.rd.buffered() > 0 {
		b := c.rd.buf[c.rd.r]
		c.rd.discard(1)
		if !c.client {
			b ^= byte(c.frameKey >> (8 * (c.framePos & 3)))
			c.framePos = (c.framePos + 1) & 3
		}
		c.frameLeft--
		return b, nil
	}
	for {
		n, err := s.Read(s.one[:])
		if n == 1 {
			return s.one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// readInflated reads decompressed payload of the current message.
func (c *Conn) readInflated(p []byte) (int, error) {
	d := c.deflate
	if d.fr == nil {
		d.fr = inflaters.Get().(io.ReadCloser)
		d.src.reset()
		d.out = 0
		var dict []byte
		if d.cfg.readTakeover {
			dict = d.dict
		}
		d.fr.(stdflate.Resetter).Reset(&d.src, dict)
	}
	limit := c.readLimit.Load()
	if limit >= 0 && int64(len(p)) > limit-d.out+1 {
		// Read at most one byte past the limit, enough to notice it.
		p = p[:limit-d.out+1]
	}
	n, err := d.fr.Read(p)
	if n > 0 && d.cfg.readTakeover {
		d.remember(p[:n])
	}
	d.out += int64(n)
	if limit >= 0 && d.out > limit {
		return n - int(d.out-limit), c.fail(&failure{code: StatusMessageTooBig, kind: ErrMessageTooBig,
			msg: "decompressed message is over the limit of " + strconv.FormatInt(limit, 10)})
	}
	if err == io.EOF {
		inflaters.Put(d.fr)
		d.fr = nil
		// A final block inside the payload ends decompression early;
		// whatever follows it up to the end of the message is dropped.
		for !d.src.rawDone {
			var scratch [256]byte
			if _, rerr := c.readRaw(scratch[:]); rerr == io.EOF {
				d.src.rawDone = true
			} else if rerr != nil {
				return n, rerr
			}
		}
		return n, io.EOF
	}
	if err != nil {
		var f *failure
		switch {
		case errors.As(err, &f), err == c.readErr, isTimeout(err):
			return n, err
		}
		var corrupt stdflate.CorruptInputError
		if errors.As(err, &corrupt) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, c.fail(&failure{code: StatusInvalidFramePayloadData, kind: ErrProtocol,
				msg: "invalid compressed data"})
		}
		return n, err
	}
	return n, nil
}

// remember appends decompressed output to the read window.
func (d *deflateState) remember(p []byte) {
	size := 1 << d.cfg.readBits
	if d.dict == nil {
		d.dict = make([]byte, 0, size)
	}
	if len(p) >= size {
		d.dict = append(d.dict[:0], p[len(p)-size:]...)
		return
	}
	if over := len(d.dict) + len(p) - size; over > 0 {
		d.dict = d.dict[:copy(d.dict, d.dict[over:])]
	}
	d.dict = append(d.dict, p...)
}
