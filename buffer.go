package wsx

import (
	"io"
	"net"
	"sync"
)

// Buffer sizes. Read and write buffers come from pools and go back while a
// connection is idle, so an idle connection holds neither.
const (
	readBufSize  = 8 << 10
	writeBufSize = 8 << 10
)

// The pools hold pointers to arrays rather than to slices: a slice can be
// turned back into its array pointer without allocating, whereas putting
// &b for a slice b would allocate a slice header on every Put, that is on
// every message.
type (
	readBuf  [readBufSize]byte
	writeBuf [writeBufSize]byte
)

var (
	readBufPool  = sync.Pool{New: func() any { return new(readBuf) }}
	writeBufPool = sync.Pool{New: func() any { return new(writeBuf) }}
)

func getReadBuf() []byte  { return readBufPool.Get().(*readBuf)[:] }
func getWriteBuf() []byte { return writeBufPool.Get().(*writeBuf)[:] }

// putReadBuf pools a read buffer of the usual size; one an EventServer's
// loop grew for a big message is left to the garbage collector.
func putReadBuf(b []byte) {
	if len(b) == readBufSize {
		readBufPool.Put((*readBuf)(b))
	}
}

func putWriteBuf(b []byte) { writeBufPool.Put((*writeBuf)(b)) }

// bufReader buffers reads from the connection. Its buffer is taken from a
// pool when data arrives and, where the platform lets wsx wait for
// readability without a buffer (see read_unix.go), returned as soon as it
// is empty.
type bufReader struct {
	c    *Conn // flushes coalesced writes before reading from nc
	nc   net.Conn
	buf  []byte
	r, w int
	raw  *rawReader // nil where waiting without a buffer is not possible
	need int        // for an EventServer's loop: bytes the next unit needs
}

func (b *bufReader) init(nc net.Conn, c *Conn) {
	b.c = c
	b.nc = nc
	b.raw = newRawReader(nc, b)
}

// preload copies in the bytes read past the handshake, readBufSize at
// most.
func (b *bufReader) preload(p []byte) {
	if b.buf == nil {
		b.buf = getReadBuf()
	}
	b.w += copy(b.buf[b.w:], p)
}

func (b *bufReader) buffered() int { return b.w - b.r }

func (b *bufReader) peek() []byte { return b.buf[b.r:b.w] }

func (b *bufReader) discard(n int) {
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
}

// release returns an empty buffer to the pool where it can be had back
// without blocking on it.
func (b *bufReader) release() {
	if b.raw != nil && b.r == b.w && b.buf != nil {
		putReadBuf(b.buf)
		b.buf = nil
		b.r, b.w = 0, 0
	}
}

// free returns the buffer to the pool, with whatever it holds: the
// connection has failed or closed, and nothing more will be read.
func (b *bufReader) free() {
	if b.buf != nil {
		putReadBuf(b.buf)
		b.buf = nil
		b.r, b.w = 0, 0
	}
}

// fill reads at least one more byte into the buffer.
func (b *bufReader) fill() error {
	b.c.flushForRead()
	if b.buf != nil && b.w == len(b.buf) {
		n := copy(b.buf, b.buf[b.r:b.w])
		b.r, b.w = 0, n
	}
	var n int
	var err error
	if b.raw != nil {
		n, err = b.raw.read()
	} else {
		if b.buf == nil {
			b.buf = getReadBuf()
		}
		n, err = b.nc.Read(b.buf[b.w:])
	}
	b.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// ensure makes sure at least n (<= readBufSize) bytes are buffered.
func (b *bufReader) ensure(n int) error {
	if b.buf != nil && b.r+n > len(b.buf) {
		m := copy(b.buf, b.buf[b.r:b.w])
		b.r, b.w = 0, m
	}
	for b.w-b.r < n {
		if err := b.fill(); err != nil {
			return err
		}
	}
	return nil
}

// drain reads and discards input until an error, such as the peer closing
// or a deadline passing.
func (b *bufReader) drain() {
	for {
		b.r, b.w = 0, 0
		if err := b.fill(); err != nil {
			b.r, b.w = 0, 0
			b.release()
			return
		}
	}
}
