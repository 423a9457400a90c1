package wsx

import (
	"context"
	"time"
)

// Coalescing writes. When the reading goroutine has just returned a
// message and the next one is already buffered, whole, a reply written now
// would cost a system call of its own although the reader is about to
// produce more: a peer with several messages in flight gets one write per
// message where one per batch would do. So while the reader has whole
// frames buffered (batch is set), frames that fit the write buffer are
// collected there instead of written, and go out together:
//
//   - before the reader asks the network for more input, so nothing the
//     peer may be waiting for is held while wsx waits for the peer;
//   - with any frame that does not fit, and with a close frame;
//   - at the latest flushDelay after the first of them, in case the
//     program stops reading for a while (a slow handler).
//
// A frame collected this way has been accepted by Write, like one handed
// to the kernel: an error sending it closes the connection, and later
// calls report that.

// flushDelay bounds how long a coalesced frame waits.
const flushDelay = time.Millisecond

// outBuf returns the write buffer, taking one from the pool if needed.
// Guarded by writeLock.
func (c *Conn) outBuf() []byte {
	if c.wbuf == nil {
		c.wbuf = getWriteBuf()
	}
	return c.wbuf
}

// releaseOutBuf returns the write buffer to the pool unless it holds
// coalesced frames. Guarded by writeLock.
func (c *Conn) releaseOutBuf() {
	if c.pending == 0 && c.wbuf != nil {
		putWriteBuf(c.wbuf)
		c.wbuf = nil
	}
}

// sendOrDefer sends the first n bytes of the write buffer, which end with
// a frame of opcode op, or keeps them for later while the reader has more
// input (see above). Guarded by writeLock.
func (c *Conn) sendOrDefer(n int, op opcode) error {
	if op != opClose && c.batch.Load() {
		if c.pending == 0 {
			c.pendingOut.Store(true)
			if c.flushTimer == nil {
				c.flushTimer = time.AfterFunc(flushDelay, c.timedFlush)
			} else {
				c.flushTimer.Reset(flushDelay)
			}
		}
		c.pending = n
		return nil
	}
	if c.pending > 0 {
		c.pending = 0
		c.stopFlushTimer()
	}
	_, err := c.nc.Write(c.wbuf[:n])
	c.releaseOutBuf()
	return err
}

// flushLocked writes the coalesced frames, if any. Guarded by writeLock.
func (c *Conn) flushLocked() error {
	if c.pending == 0 {
		return nil
	}
	n := c.pending
	c.pending = 0
	c.stopFlushTimer()
	_, err := c.nc.Write(c.wbuf[:n])
	return err
}

func (c *Conn) stopFlushTimer() {
	c.pendingOut.Store(false)
	if c.flushTimer != nil {
		c.flushTimer.Stop()
	}
}

// flushForRead is called by the reader before it reads from the network:
// from now on writes go out at once, and coalesced frames go out now
// unless a writer holds the lock, in which case that writer sends them
// ahead of its own frame.
func (c *Conn) flushForRead() {
	c.batch.Store(false)
	if !c.pendingOut.Load() {
		return
	}
	if !c.writeLock.tryLock() {
		return
	}
	c.flushAndUnlock()
}

// timedFlush sends coalesced frames that waited flushDelay.
func (c *Conn) timedFlush() {
	if c.writeLock.lock(context.Background()) != nil {
		return
	}
	c.flushAndUnlock()
}

func (c *Conn) flushAndUnlock() {
	err := c.flushLocked()
	c.releaseOutBuf()
	c.writeLock.unlock()
	if err != nil {
		c.closeNet()
	}
}

// endOfMessage is called by the reader when a message has been read
// whole: replies may be coalesced if another frame is already buffered.
func (c *Conn) endOfMessage() {
	c.batch.Store(c.rd.hasFrame())
}

// hasFrame reports whether a whole frame is buffered.
func (b *bufReader) hasFrame() bool {
	p := b.peek()
	if len(p) < 2 {
		return false
	}
	hl := headerSize(p[0], p[1])
	if len(p) < hl {
		return false
	}
	var h header
	if _, err := parseHeader(p, &h); err != nil {
		return true // the reader will fail the connection without waiting
	}
	return int64(len(p)-hl) >= h.length
}
