package wsx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Reader waits for the next data message and returns its type and a reader
// of its payload, which streams the message frame by frame without holding
// it whole. Reading the payload uses ctx too. Reading past the end returns
// io.EOF; a message not read to its end is discarded by the next call to
// Reader, Read or AppendMessage.
//
// Pings are answered and close frames handled while Reader waits. When the
// peer closes the connection, Reader returns an error wrapping CloseError.
//
// If ctx ends before a message begins, Reader returns the context's error
// and the connection stays usable. If it ends while a message is being
// read, the connection is closed, since the rest of the message can no
// longer be delivered.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.beginRead(ctx); err != nil {
		return 0, nil, err
	}
	defer c.endRead()
	c.mr.ctx = ctx
	c.mr.gen = c.msgGen
	return c.msgType, &c.mr, nil
}

// Read waits for the next data message and returns it whole in a newly
// allocated slice. See Reader for how ctx, control frames and closing are
// handled. For a loop that reads without allocating, use AppendMessage.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.AppendMessage(ctx, nil)
}

// AppendMessage waits for the next data message, appends its payload to
// dst and returns the type and the extended slice. Passing the previous
// result back as dst[:0] makes a read loop that allocates nothing once the
// slice has grown to the largest message. See Reader for how ctx, control
// frames and closing are handled.
func (c *Conn) AppendMessage(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.beginRead(ctx); err != nil {
		return 0, dst, err
	}
	defer c.endRead()
	stop := c.watchRead(ctx)
	dst, err := c.appendPayload(dst)
	if c.readInterrupted(stop, err) {
		c.closeNet()
		return 0, dst, ctxError("read", ctx)
	}
	if err != io.EOF {
		return 0, dst, err
	}
	return c.msgType, dst, nil
}

// beginRead takes the read lock and reads up to the first data frame of the
// next message. On success the lock is held.
func (c *Conn) beginRead(ctx context.Context) error {
	if c.evented {
		return errEventServed
	}
	if err := c.readLock.lock(ctx); err != nil {
		if errors.Is(err, ErrClosed) && c.readErr != nil {
			return c.readErr
		}
		return fmt.Errorf("wsx: read: %w", err)
	}
	if c.readErr != nil {
		c.rd.free()
		c.readLock.unlock()
		return c.readErr
	}
	stop := c.watchRead(ctx)
	err := c.skipMessage()
	if err == nil && c.rd.buffered() == 0 && c.readErr == nil {
		// Wait for input here, few calls deep, rather than in
		// nextFrame: the goroutine of an idle connection then needs
		// the smallest stack the runtime gives.
		if ferr := c.rd.fill(); ferr != nil {
			err = c.readFailed(ferr)
		}
	}
	if err == nil {
		err = c.nextFrame()
	}
	if c.readInterrupted(stop, err) {
		if c.inMsg {
			c.closeNet()
		}
		c.readLock.unlock()
		return ctxError("read", ctx)
	}
	if err != nil {
		if c.readErr != nil {
			c.rd.free()
		}
		c.readLock.unlock()
		return err
	}
	c.msgGen++
	return nil
}

func (c *Conn) endRead() {
	c.rd.release()
	c.readLock.unlock()
}

// skipMessage reads and discards the rest of the current message, if any.
func (c *Conn) skipMessage() error {
	for c.inMsg {
		var scratch [512]byte
		if _, err := c.readPayload(scratch[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

// discardMessage reads and discards one whole message, handling control
// frames on the way. Close uses it to wait for the peer's close frame.
func (c *Conn) discardMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	if err := c.skipMessage(); err != nil {
		return err
	}
	if err := c.nextFrame(); err != nil {
		return err
	}
	return c.skipMessage()
}

// readPayload reads payload of the current message into p, decompressed
// if the message is compressed, and checks the text of text messages. It
// returns io.EOF, possibly with data, when the message ends.
func (c *Conn) readPayload(p []byte) (int, error) {
	var n int
	var err error
	if c.msgCompressed {
		n, err = c.readInflated(p)
	} else {
		n, err = c.readRaw(p)
	}
	if c.msgType == MessageText && n > 0 && !c.utf8.write(p[:n]) {
		return n, c.fail(&failure{code: StatusInvalidFramePayloadData, kind: ErrInvalidUTF8, msg: "text message is not valid UTF-8"})
	}
	if err == io.EOF {
		if c.msgType == MessageText && !c.utf8.done() {
			return n, c.fail(&failure{code: StatusInvalidFramePayloadData, kind: ErrInvalidUTF8, msg: "text message ends inside a UTF-8 sequence"})
		}
		c.inMsg = false
		c.endOfMessage()
	}
	return n, err
}

// readRaw reads the payload bytes of the current message as they are on
// the wire, unmasked, reading further frame headers (and handling control
// frames) as the message continues. It returns io.EOF, possibly with data,
// after the last frame.
func (c *Conn) readRaw(p []byte) (int, error) {
	n := 0
	for {
		if c.frameLeft == 0 {
			if c.frameFin {
				c.frameFin = false
				return n, io.EOF
			}
			if n > 0 {
				// Hand over what was read before parsing the next
				// header, so the caller checks it first: an error in
				// the next frame must not hide a fault in this one.
				return n, nil
			}
			if err := c.nextFrame(); err != nil {
				return n, err
			}
			continue
		}
		if len(p) == 0 {
			return n, nil
		}
		chunk := p
		if int64(len(chunk)) > c.frameLeft {
			chunk = chunk[:c.frameLeft]
		}
		var k int
		if avail := c.rd.buffered(); avail > 0 {
			k = copy(chunk, c.rd.peek())
			c.rd.discard(k)
		} else if n > 0 {
			return n, nil
		} else if len(chunk) >= readBufSize/2 {
			c.flushForRead()
			var err error
			k, err = c.rd.nc.Read(chunk)
			if k == 0 {
				if err == errWouldBlock {
					// An EventServer's loop comes back when the
					// socket holds more.
					return n, nil
				}
				return n, c.readFailed(err)
			}
		} else {
			if err := c.rd.fill(); err != nil {
				return n, c.readFailed(err)
			}
			continue
		}
		chunk = chunk[:k]
		if c.ka != nil {
			c.sawFrame(true)
		}
		if !c.client {
			c.framePos = mask(c.frameKey, c.framePos, chunk)
		}
		c.frameLeft -= int64(k)
		n += k
		p = p[k:]
	}
}

// readFailed turns an I/O error into the connection's read error. Deadline
// errors are returned as they are, since a context may have caused them
// and the connection then stays usable.
func (c *Conn) readFailed(err error) error {
	if err == nil {
		err = io.ErrNoProgress
	}
	if isTimeout(err) && !c.isClosed() {
		return err
	}
	if c.readErr != nil {
		return c.readErr
	}
	switch {
	case c.aborted.Load() != nil:
		c.readErr = c.aborted.Load()
	case c.isClosed():
		c.readErr = fmt.Errorf("wsx: read: %w", ErrClosed)
	case errors.Is(err, io.EOF):
		c.readErr = fmt.Errorf("wsx: read: connection closed without a close frame: %w", io.ErrUnexpectedEOF)
	default:
		c.readErr = fmt.Errorf("wsx: read: %w", err)
	}
	c.closeNet()
	return c.readErr
}

// nextFrame reads frame headers, handling control frames, until the header
// of a data frame that belongs to the current message (or starts one when
// none is in progress).
func (c *Conn) nextFrame() error {
	for {
		data, err := c.frameStep()
		if err != nil || data {
			return err
		}
	}
}

// frameStep reads one frame header: a control frame is handled, with its
// payload, and a data frame taken on (see beginFrame). It reports whether
// the frame was a data frame.
func (c *Conn) frameStep() (bool, error) {
	var h header
	if err := c.readHeader(&h); err != nil {
		return false, err
	}
	if h.opcode.isControl() {
		return false, c.handleControl(&h)
	}
	return true, c.beginFrame(&h)
}

// beginFrame takes on the data frame whose header was just read: it must
// continue the current message or start one, and keep the message within
// the read limit.
func (c *Conn) beginFrame(h *header) error {
	if h.opcode == opContinuation {
		if !c.inMsg {
			return c.fail(protocolError("continuation frame with no message in progress"))
		}
	} else {
		if c.inMsg {
			return c.fail(protocolError("new data message inside a fragmented message"))
		}
		c.inMsg = true
		c.msgType = MessageType(h.opcode)
		c.msgCompressed = h.rsv&bitRsv1 != 0
		c.msgLen = 0
		c.utf8.reset()
	}
	c.msgLen += h.length
	limit := c.readLimit.Load()
	if c.msgCompressed && limit >= 0 {
		// The limit is on the decompressed size, checked as it is
		// produced; here it only bounds the compressed size, allowing
		// for incompressible data growing a little.
		limit += limit/64 + 1024
	}
	if limit >= 0 && c.msgLen > limit {
		return c.fail(&failure{code: StatusMessageTooBig, kind: ErrMessageTooBig,
			msg: fmt.Sprintf("message of at least %d bytes is over the limit of %d", c.msgLen, limit)})
	}
	c.frameLeft = h.length
	c.frameFin = h.fin
	c.frameKey = h.key
	c.framePos = 0
	return nil
}

// readHeader reads and checks one frame header. The payload of a control
// frame is buffered with it, so that a context ending halfway never leaves
// a control frame half read.
func (c *Conn) readHeader(h *header) error {
	if c.readErr != nil {
		return c.readErr
	}
	if err := c.rd.ensure(2); err != nil {
		return c.readFailed(err)
	}
	b := c.rd.peek()
	hl := headerSize(b[0], b[1])
	if err := c.rd.ensure(hl); err != nil {
		return c.readFailed(err)
	}
	if _, err := parseHeader(c.rd.peek(), h); err != nil {
		return c.fail(protocolError(err.Error()))
	}
	if f := c.headerFault(h); f != nil {
		return c.fail(f)
	}
	if h.opcode.isControl() {
		if err := c.rd.ensure(hl + int(h.length)); err != nil {
			return c.readFailed(err)
		}
	}
	c.rd.discard(hl)
	c.sawFrame(!h.opcode.isControl())
	return nil
}

// headerFault returns what is wrong with a frame header that parsed, for
// this side of this connection, or nil.
func (c *Conn) headerFault(h *header) *failure {
	switch {
	case c.client && h.masked:
		return protocolError("masked frame from server")
	case !c.client && !h.masked:
		return protocolError("unmasked frame from client")
	case h.rsv&(bitRsv2|bitRsv3) != 0:
		return protocolError("reserved bits RSV2 or RSV3 set without a negotiated extension")
	case h.rsv&bitRsv1 != 0:
		// permessage-deflate marks the first frame of a compressed
		// data message, and nothing else, with RSV1 (RFC 7692 §6).
		switch {
		case c.deflate == nil:
			return protocolError("reserved bit RSV1 set without a negotiated extension")
		case h.opcode.isControl():
			return protocolError("compressed control frame")
		case h.opcode == opContinuation:
			return protocolError("RSV1 set on a continuation frame")
		}
	}
	return nil
}

// handleControl handles a ping, pong or close frame whose payload is
// buffered (RFC 6455 §5.5).
func (c *Conn) handleControl(h *header) error {
	// The payload is used where it lies in the read buffer, and
	// discarded before anything can read into the buffer again.
	p := c.rd.peek()[:h.length]
	if h.masked {
		mask(h.key, 0, p)
	}
	switch h.opcode {
	case opPing:
		// A pong that cannot be written means the connection is
		// broken; the next read reports it.
		c.writeControl(context.Background(), opPong, p)
		c.rd.discard(len(p))
	case opPong:
		c.gotPong(p)
		c.rd.discard(len(p))
	case opClose:
		ce, f := parseClosePayload(p)
		c.rd.discard(len(p))
		if f != nil {
			return c.fail(f)
		}
		c.closeRcvd.Store(&ce)
		c.readErr = ce
		// Echo the peer's status code (RFC 6455 §5.5.1); a close
		// frame without one is answered with none.
		c.writeCloseTimeout(ce.Code, "", closeTimeout)
		c.finishClose()
		return ce
	}
	return nil
}

// messageReader streams the payload of one message; Conn.Reader returns
// the connection's single instance.
type messageReader struct {
	c   *Conn
	ctx context.Context
	gen uint64
}

// Read reads payload of the message, returning io.EOF at its end.
func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	if c.evented {
		return 0, errEventServed
	}
	if err := c.readLock.lock(r.ctx); err != nil {
		return 0, fmt.Errorf("wsx: read: %w", err)
	}
	defer c.endRead()
	if r.gen != c.msgGen {
		return 0, errors.New("wsx: read: message reader used after the next message began")
	}
	if !c.inMsg {
		return 0, io.EOF
	}
	stop := c.watchRead(r.ctx)
	n, err := c.readPayload(p)
	if c.readInterrupted(stop, err) {
		c.closeNet()
		return n, ctxError("read", r.ctx)
	}
	return n, err
}

// gotPong wakes the Ping call waiting for this pong, if any.
func (c *Conn) gotPong(p []byte) {
	if len(p) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(p)
	c.mu.Lock()
	if ch, ok := c.pings[id]; ok {
		close(ch)
		delete(c.pings, id)
	}
	c.mu.Unlock()
}
