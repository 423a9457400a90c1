package wsx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/wsx-go/wsx/internal/flate"
)

// Write sends p as one message of type typ, in a single frame. It is safe
// to call from several goroutines at once; messages go out whole, one after
// another. Write does not check that a text message is valid UTF-8.
//
// If ctx ends before the message starts going out, Write returns the
// context's error and the connection stays usable; if it ends while the
// message is being written, the connection is closed, since a partial frame
// cannot be taken back.
//
// When permessage-deflate was agreed, messages of at least the
// compression threshold are compressed; see WriteUncompressed.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	return c.writeMessage(ctx, typ, p, c.deflate != nil && len(p) >= c.deflate.threshold)
}

// WriteUncompressed is Write without compression, whatever was agreed:
// for a message known not to compress, such as an image, or one that must
// not share a compression context with secrets sent on the same
// connection.
func (c *Conn) WriteUncompressed(ctx context.Context, typ MessageType, p []byte) error {
	return c.writeMessage(ctx, typ, p, false)
}

func (c *Conn) writeMessage(ctx context.Context, typ MessageType, p []byte, compress bool) error {
	if typ != MessageText && typ != MessageBinary {
		return fmt.Errorf("wsx: write: invalid message type %v", typ)
	}
	if err := c.msgLock.lock(ctx); err != nil {
		return fmt.Errorf("wsx: write: %w", err)
	}
	defer c.msgLock.unlock()
	if !compress {
		return c.writeFrame(ctx, true, opcode(typ), 0, p)
	}
	d := c.deflate
	bp := compressBufs.Get().(*[]byte)
	enc := d.encoder()
	out := d.finish(enc, enc.Write((*bp)[:0], p))
	err := c.writeFrame(ctx, true, opcode(typ), bitRsv1, out)
	putCompressBuf(bp, out)
	return err
}

// Writer returns a writer for one message of type typ, sent as a sequence
// of frames (a fragmented message, RFC 6455 §5.4) as data is written, so a
// message of any size can be streamed without holding it whole. The message
// ends when the writer is closed; until then other data messages wait,
// while control frames may go out between its frames. Writer uses ctx for
// the whole message.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("wsx: writer: invalid message type %v", typ)
	}
	if err := c.msgLock.lock(ctx); err != nil {
		return nil, fmt.Errorf("wsx: writer: %w", err)
	}
	if c.mw == nil {
		c.mw = &messageWriter{c: c}
	}
	w := c.mw
	w.ctx = ctx
	w.op = opcode(typ)
	w.n = 0
	w.active = true
	w.buf = getWriteBuf()
	w.compressing = false
	return w, nil
}

// Ping sends a ping and waits for the matching pong (RFC 6455 §5.5.2). The
// pong is seen by the goroutine reading the connection, so Ping needs a
// read in progress (Read, Reader or AppendMessage) to return.
func (c *Conn) Ping(ctx context.Context) error {
	c.mu.Lock()
	c.pingSeq++
	id := c.pingSeq
	ch := make(chan struct{})
	if c.pings == nil {
		c.pings = make(map[uint64]chan struct{})
	}
	c.pings[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pings, id)
		c.mu.Unlock()
	}()
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], id)
	if err := c.writeControl(ctx, opPing, p[:]); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctxError("ping", ctx)
	case <-c.doneChan():
		return fmt.Errorf("wsx: ping: %w", ErrClosed)
	}
}

// writeControl sends a ping or pong.
func (c *Conn) writeControl(ctx context.Context, op opcode, p []byte) error {
	return c.writeFrame(ctx, true, op, 0, p)
}

// writeCloseTimeout sends a close frame unless one was sent, waiting at
// most d. StatusNoStatusRcvd sends a close frame without a payload.
func (c *Conn) writeCloseTimeout(code StatusCode, reason string, d time.Duration) error {
	if c.writeLock.tryLock() {
		// The usual case, the lock is free: a write deadline bounds
		// the write, without a context to make.
		defer c.writeLock.unlock()
		c.nc.SetWriteDeadline(time.Now().Add(d))
		err := c.sendCloseLocked(code, reason, nil, nil)
		if err == nil {
			c.nc.SetWriteDeadline(time.Time{})
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.writeLock.lock(ctx); err != nil {
		return fmt.Errorf("wsx: close: %w", err)
	}
	defer c.writeLock.unlock()
	return c.sendCloseLocked(code, reason, ctx, c.watchWrite(ctx))
}

// sendCloseLocked sends a close frame, holding the frame lock, with ctx
// watched by stop if ctx is not nil.
func (c *Conn) sendCloseLocked(code StatusCode, reason string, ctx context.Context, stop func() bool) error {
	if c.closeSent {
		if stop != nil {
			stop()
		}
		return fmt.Errorf("wsx: close: %w", ErrClosed)
	}
	c.closeSent = true
	var p [maxControlPayload]byte
	n := 0
	if code != StatusNoStatusRcvd {
		binary.BigEndian.PutUint16(p[:], uint16(code))
		n = 2 + copy(p[2:], reason)
	}
	c.sentClose.Store(&CloseError{Code: code, Reason: reason})
	err := c.writeFrameLocked(true, opClose, 0, p[:n])
	if ctx != nil {
		err = c.unwatchWrite(stop, ctx, "close", err)
	}
	if err != nil {
		c.closeNet()
		return fmt.Errorf("wsx: close: %w", err)
	}
	return nil
}

// writeFrame sends one frame, taking the frame lock.
func (c *Conn) writeFrame(ctx context.Context, fin bool, op opcode, rsv byte, p []byte) error {
	return c.writeFrameOrWhole(ctx, fin, op, rsv, p, nil)
}

// writeWholeFrame sends a data frame built in advance, header included
// (a server's PreparedMessage), taking the frame lock.
func (c *Conn) writeWholeFrame(ctx context.Context, frame []byte) error {
	return c.writeFrameOrWhole(ctx, true, 0, 0, nil, frame)
}

// writeFrameOrWhole writes frame as it is if it is not nil, and otherwise
// the frame made of the other arguments.
func (c *Conn) writeFrameOrWhole(ctx context.Context, fin bool, op opcode, rsv byte, p, frame []byte) error {
	if err := c.writeLock.lock(ctx); err != nil {
		return fmt.Errorf("wsx: write: %w", err)
	}
	defer c.writeLock.unlock()
	if c.closeSent {
		return fmt.Errorf("wsx: write: %w", ErrClosed)
	}
	if ctx.Err() != nil {
		// Nothing is on the wire yet, so the connection stays usable.
		return ctxError("write", ctx)
	}
	stop := c.watchWrite(ctx)
	var err error
	if frame != nil {
		err = c.writeWholeLocked(frame)
	} else {
		err = c.writeFrameLocked(fin, op, rsv, p)
	}
	err = c.unwatchWrite(stop, ctx, "write", err)
	if err != nil {
		c.closeNet()
		if c.isClosed() && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wsx: write: %w: %w", ErrClosed, err)
		}
		return err
	}
	return nil
}

// writeWholeLocked writes a data frame built in advance, after the
// coalesced frames, or joins them (see coalesce.go).
func (c *Conn) writeWholeLocked(frame []byte) error {
	c.sentData()
	buf := c.outBuf()
	pend := c.pending
	if pend+len(frame) <= len(buf) {
		copy(buf[pend:], frame)
		return c.sendOrDefer(pend+len(frame), opBinary)
	}
	if err := c.flushLocked(); err != nil {
		return err
	}
	c.releaseOutBuf()
	_, err := c.nc.Write(frame)
	return err
}

// leadWriteMin is the payload size from which a server writes a frame that
// does not fit the write buffer with two writes rather than one vectored
// write: the header and the start of the payload, filling the write
// buffer, then the rest of the payload in place.
//
// The first write matters where TCP paces its output, as BBR does. Handed
// a whole large frame at once, BBR tends to keep a low bandwidth estimate
// and paces the frames that follow with a timer, which expires several
// times per frame on the writing CPU. With a few KiB sent ahead, the
// estimate stays high and the timer runs less: on loopback, echoing 1 MiB
// messages, two to four times fewer timer expirations and 10-15% less
// server CPU. The extra write and segment cost a few microseconds, more
// than they save below this size.
const leadWriteMin = 128 << 10

// writeFrameLocked writes the frame header and payload, after any
// coalesced frames: with one write system call when everything fits the
// write buffer and, on a server, with one vectored write otherwise, or
// two writes from leadWriteMin bytes of payload. A client masks the
// payload into the buffer as it copies it and never modifies p.
func (c *Conn) writeFrameLocked(fin bool, op opcode, rsv byte, p []byte) error {
	if !op.isControl() {
		c.sentData()
	}
	h := header{fin: fin, rsv: rsv, opcode: op, masked: c.client, length: int64(len(p))}
	if c.client {
		h.key = rand.Uint32()
	}
	hl := headerLen(h.length, h.masked)
	buf := c.outBuf()
	pend := c.pending
	if pend+hl+len(p) <= len(buf) {
		putHeader(buf[pend:], &h)
		if c.client {
			maskCopy(buf[pend+hl:], p, h.key, 0)
		} else {
			copy(buf[pend+hl:], p)
		}
		return c.sendOrDefer(pend+hl+len(p), op)
	}
	if pend+hl > len(buf) {
		if err := c.flushLocked(); err != nil {
			return err
		}
		pend = 0
	}
	defer c.releaseOutBuf()
	putHeader(buf[pend:], &h)
	c.pending = 0
	c.stopFlushTimer()
	if !c.client && len(p) >= leadWriteMin {
		k := copy(buf[pend+hl:], p)
		if _, err := c.nc.Write(buf[:pend+hl+k]); err != nil {
			return err
		}
		_, err := c.nc.Write(p[k:])
		return err
	}
	if !c.client {
		if c.iov == nil {
			c.iov = new(vectorWrite)
		}
		v := c.iov
		v.arr[0], v.arr[1] = buf[:pend+hl], p
		v.bufs = v.arr[:]
		_, err := v.bufs.WriteTo(c.nc)
		v.arr[0], v.arr[1] = nil, nil
		return err
	}
	pos := 0
	end := pend + hl
	for {
		k := copy(buf[end:], p)
		pos = maskCopy(buf[end:], p[:k], h.key, pos)
		p = p[k:]
		if _, err := c.nc.Write(buf[:end+k]); err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
		end = 0
	}
}

// messageWriter streams one message as frames; Conn.Writer returns the
// connection's single instance. Data collects in buf after room for the
// largest header, so each frame goes out with one write.
//
// With permessage-deflate, the first bytes are held uncompressed until it
// is clear whether the message reaches the compression threshold; from
// then on data goes through the compressor into cbuf, which is sent as a
// frame whenever it fills.
type messageWriter struct {
	c      *Conn
	ctx    context.Context
	op     opcode // of the next frame: the message type, then continuation
	buf    []byte
	n      int
	active bool

	compressing bool
	enc         *flate.Encoder
	cbufp       *[]byte
	cbuf        []byte
}

// startCompressing switches the message to compression, moving the data
// held so far into the compressor. It must happen before any frame of the
// message has gone out, since RSV1 marks the first frame.
func (w *messageWriter) startCompressing() {
	d := w.c.deflate
	w.compressing = true
	w.enc = d.encoder()
	w.cbufp = compressBufs.Get().(*[]byte)
	w.cbuf = w.enc.Write((*w.cbufp)[:0], w.buf[maxHeaderSize:maxHeaderSize+w.n])
	w.n = 0
}

// canCompress reports whether the message may still switch to compression.
func (w *messageWriter) canCompress() bool {
	return !w.compressing && w.c.deflate != nil && w.op != opContinuation
}

// flushCompressed sends the compressed data so far as one frame.
func (w *messageWriter) flushCompressed(fin bool) error {
	var rsv byte
	if w.op != opContinuation {
		rsv = bitRsv1
	}
	err := w.c.writeFrame(w.ctx, fin, w.op, rsv, w.cbuf)
	w.op = opContinuation
	w.cbuf = w.cbuf[:0]
	return err
}

// Write adds p to the message, sending full frames as the buffer fills.
func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.active {
		return 0, errors.New("wsx: write to a closed message writer")
	}
	total := len(p)
	if !w.compressing && w.canCompress() && w.n+len(p) > len(w.buf)-maxHeaderSize {
		// The message is too long for one buffer, so it certainly
		// reaches the threshold.
		w.startCompressing()
	}
	if w.compressing {
		w.cbuf = w.enc.Write(w.cbuf, p)
		if len(w.cbuf) >= writeBufSize {
			if err := w.flushCompressed(false); err != nil {
				return 0, err
			}
		}
		return total, nil
	}
	for len(p) > 0 {
		room := len(w.buf) - maxHeaderSize - w.n
		if w.n == 0 && len(p) > room {
			// Large writes go out as their own frame, uncopied on a
			// server.
			if err := w.c.writeFrame(w.ctx, false, w.op, 0, p); err != nil {
				return total - len(p), err
			}
			w.op = opContinuation
			return total, nil
		}
		k := copy(w.buf[maxHeaderSize+w.n:], p)
		w.n += k
		p = p[k:]
		if w.n == len(w.buf)-maxHeaderSize {
			if err := w.flush(false); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// Close sends the final frame of the message and lets the next message go.
func (w *messageWriter) Close() error {
	if !w.active {
		return errors.New("wsx: message writer already closed")
	}
	if w.canCompress() && w.n >= w.c.deflate.threshold {
		w.startCompressing()
	}
	var err error
	if w.compressing {
		w.cbuf = w.c.deflate.finish(w.enc, w.cbuf)
		err = w.flushCompressed(true)
		putCompressBuf(w.cbufp, w.cbuf)
		w.enc, w.cbufp, w.cbuf = nil, nil, nil
		w.compressing = false
	} else {
		err = w.flush(true)
	}
	w.active = false
	putWriteBuf(w.buf)
	w.buf = nil
	w.ctx = nil
	w.c.msgLock.unlock()
	return err
}

// flush sends the buffered data as one frame.
func (w *messageWriter) flush(fin bool) error {
	c := w.c
	if err := c.writeLock.lock(w.ctx); err != nil {
		return fmt.Errorf("wsx: write: %w", err)
	}
	defer c.writeLock.unlock()
	if c.closeSent {
		return fmt.Errorf("wsx: write: %w", ErrClosed)
	}
	c.sentData()
	if err := c.flushLocked(); err != nil {
		c.closeNet()
		return err
	}
	c.releaseOutBuf()
	h := header{fin: fin, opcode: w.op, masked: c.client, length: int64(w.n)}
	if c.client {
		h.key = rand.Uint32()
	}
	data := w.buf[maxHeaderSize : maxHeaderSize+w.n]
	hl := headerLen(h.length, h.masked)
	start := maxHeaderSize - hl
	putHeader(w.buf[start:], &h)
	if c.client {
		mask(h.key, 0, data)
	}
	stop := c.watchWrite(w.ctx)
	_, err := c.nc.Write(w.buf[start : maxHeaderSize+w.n])
	err = c.unwatchWrite(stop, w.ctx, "write", err)
	w.n = 0
	w.op = opContinuation
	if err != nil {
		c.closeNet()
		return err
	}
	return nil
}
