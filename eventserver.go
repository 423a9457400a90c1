package wsx

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"time"
)

// EventServer serves WebSocket connections from a few event loops, one
// goroutine per CPU by default, instead of a goroutine per connection: a
// connection waiting for its next message costs no goroutine and no
// buffer, only its Conn, about 600 bytes in all. It is for servers that
// hold very many mostly idle connections (notifications, presence, chat).
// It accepts connections itself, from a TCP listener, and performs the
// opening handshake with the same checks and options as Accept.
//
// A connection's messages are delivered to OnMessage; the Conn API is
// otherwise the one every connection has: Write, WritePrepared, Writer,
// Ping, Close, CloseNow and the rest work as usual, from any goroutine.
// Read, AppendMessage and Reader are the exceptions: the event loop is the
// connection's reader, and they return an error.
//
// Callbacks run on the event loop that serves the connection, one at a
// time per loop, so a callback that takes long holds up that loop's other
// connections. A Write made from a callback returns at once unless the
// peer's receive window is full, in which case it waits for the peer, as
// any Write does; give it a context with a deadline, or hand slow work to
// another goroutine.
//
// Close sends the close frame and returns without waiting for the
// peer's: the event loop finishes the closing handshake (or closes the
// connection after 5 seconds) and then calls OnClose. Ping waits for a
// pong that the loop reads, so call it from a goroutine of its own, not
// from a callback.
//
// EventServer needs Linux (epoll); elsewhere Serve returns an error
// wrapping errors.ErrUnsupported.
type EventServer struct {
	// Options are the handshake and connection options, as for Accept.
	Options AcceptOptions

	// Check, if not nil, is called with the handshake request before
	// the response, and refuses the handshake with 403 Forbidden by
	// returning an error. It is the place to authenticate a client. The
	// request's Body is empty.
	Check func(r *http.Request) error

	// OnOpen, if not nil, is called when a connection has been upgraded,
	// before its first message, with its handshake request: the place to
	// note who the client is or which path it asked for.
	//
	// The request is made for Check and OnOpen only: a server that sets
	// neither does not pay for it.
	OnOpen func(c *Conn, r *http.Request)

	// OnMessage is called with each data message, whole. msg is valid
	// only until OnMessage returns; copy what must outlive the call.
	OnMessage func(c *Conn, typ MessageType, msg []byte)

	// OnClose, if not nil, is called once for every connection that
	// OnOpen saw, when it has ended, with the reason: an error wrapping
	// CloseError when the peer closed it, the protocol failure that
	// made wsx close it, or ErrClosed when this side closed it.
	OnClose func(c *Conn, err error)

	// Loops is the number of event loops; 0 means one per CPU
	// (runtime.GOMAXPROCS).
	Loops int

	// HandshakeTimeout is how long a client has, from connecting, to
	// send its handshake request; 0 means 10 seconds.
	HandshakeTimeout time.Duration
}

// Serve accepts connections on ln, which must be a *net.TCPListener (and
// gets TCP_NODELAY, which its connections inherit), and serves them until
// ctx ends. It then stops accepting, closes ln, sends
// every open connection a close frame with status 1001 (going away),
// closes them, calls OnClose for each, and returns nil. It returns an
// error if ln cannot be served or accepting fails.
func (s *EventServer) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln)
}

func (s *EventServer) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return 10 * time.Second
}

// errEventServed is returned by the read methods of a connection whose
// reader is an EventServer's loop.
var errEventServed = errorString("wsx: read: the connection's messages go to its EventServer's OnMessage")

// errWouldBlock is what a read of an EventServer's connection returns,
// as it is, when the socket holds nothing.
var errWouldBlock = errorString("the socket holds nothing to read")

type errorString string

func (e errorString) Error() string { return string(e) }

// Serving a connection from an event loop. The loop reads whatever the
// socket holds into the connection's read buffer and then hands it to the
// usual read path in steps that never wait for input: a frame header once
// it is buffered (with the payload, for a control frame), and as much of
// a data frame's payload as is buffered, so that a message is checked
// (UTF-8, limits) as it arrives and the read buffer stays small. A
// compressed message is taken only once it is buffered whole, because the
// decompressor cannot stop halfway for want of input; the buffer grows to
// hold it, within the read limit.

// frameReady reports whether b begins with a frame header the read path
// can take without waiting: the header, and for a control frame its
// payload too, unless the header is refused on its own. Otherwise it
// returns the number of bytes needed at least.
func (c *Conn) frameReady(b []byte) (bool, int) {
	if len(b) < 2 {
		return false, 2
	}
	hl := headerSize(b[0], b[1])
	if len(b) < hl {
		return false, hl
	}
	if opcode(b[0] & 0x0F).isControl() {
		var h header
		if _, err := parseHeader(b, &h); err == nil && c.headerFault(&h) == nil && int64(len(b)-hl) < h.length {
			return false, hl + int(h.length)
		}
	}
	return true, 0
}

// scanMessage reports whether b, which begins with the first frame of a
// data message, holds the whole message (its frames, and the control
// frames between them), or a header the read path will refuse after
// reading only that header: a protocol error or a message over the
// limit. Otherwise it returns the number of bytes needed at least.
func (c *Conn) scanMessage(b []byte) (ready bool, need int) {
	pos := 0
	var msgLen int64
	limit := c.readLimit.Load()
	if limit >= 0 {
		limit += limit/64 + 1024 // as beginFrame allows a compressed message
	}
	for {
		if len(b)-pos < 2 {
			return false, pos + 2
		}
		hl := headerSize(b[pos], b[pos+1])
		if len(b)-pos < hl {
			return false, pos + hl
		}
		var h header
		if _, err := parseHeader(b[pos:], &h); err != nil || c.headerFault(&h) != nil {
			return true, 0 // the read path refuses it
		}
		end := int64(pos+hl) + h.length
		if h.opcode.isControl() {
			if int64(len(b)) < end {
				return false, int(end)
			}
			pos = int(end)
			continue
		}
		if (pos == 0) != (h.opcode != opContinuation) {
			return true, 0 // out of order: the read path fails it
		}
		msgLen += h.length
		if limit >= 0 && msgLen > limit {
			return true, 0
		}
		if int64(len(b)) < end {
			return false, int(end)
		}
		if h.fin {
			return true, 0
		}
		pos = int(end)
	}
}

// serveBuffered hands what the read buffer holds to the read path, and
// each message, once whole, to OnMessage. msg holds the part of the
// current message read so far; serveBuffered returns it with what it
// added. It returns when the buffer holds nothing more it can take, or the
// connection failed or closed. Only the event loop calls it.
func (c *Conn) serveBuffered(s *EventServer, msg []byte) []byte {
	for c.readErr == nil && !c.isClosed() {
		if c.inMsg && (c.frameLeft > 0 || c.frameFin) {
			// The payload of a frame too big for the read buffer is
			// read from the socket straight into the message, as
			// much as it holds.
			avail := c.rd.buffered()
			direct := c.readsDirect()
			if c.frameLeft > 0 && avail == 0 && !direct {
				return msg
			}
			// Grow as the payload arrives, not as far as a header
			// announces.
			n := avail
			if direct {
				n = max(len(msg), 64<<10)
			}
			n = int(min(c.frameLeft, int64(n)))
			msg = slices.Grow(msg, n)
			k, err := c.readPayload(msg[len(msg) : len(msg)+n])
			msg = msg[:len(msg)+k]
			if direct && k == 0 && err == nil {
				return msg
			}
			if err == io.EOF {
				if s.OnMessage != nil {
					s.OnMessage(c, c.msgType, msg)
				}
				msg = msg[:0]
				continue
			}
			if err != nil {
				return msg
			}
			continue
		}
		b := c.rd.peek()
		if ok, need := c.frameReady(b); !ok {
			c.rd.need = need
			return msg
		}
		if !c.inMsg && c.deflate != nil && b[0]&bitRsv1 != 0 && !opcode(b[0]&0x0F).isControl() {
			ok, need := c.scanMessage(b)
			if !ok {
				c.rd.need = need
				return msg
			}
			if err := c.nextFrame(); err != nil {
				return msg
			}
			var err error
			msg, err = c.appendPayload(msg[:0])
			if err != io.EOF {
				return msg
			}
			if s.OnMessage != nil {
				s.OnMessage(c, c.msgType, msg)
			}
			msg = msg[:0]
			continue
		}
		c.rd.need = 0
		if _, err := c.frameStep(); err != nil {
			return msg
		}
	}
	return msg
}

// readsDirect reports whether the read path takes the payload of the
// current frame from the socket itself, straight into the message (see
// readRaw): the read buffer is empty and the payload left is big.
func (c *Conn) readsDirect() bool {
	return c.inMsg && c.rd.buffered() == 0 && c.frameLeft >= readBufSize/2
}

// serveReadable is an event loop's turn with a connection whose socket is
// readable: it reads what the socket holds, into the read buffer or, for
// the payload of a frame too big for it, straight into the message, and
// serves it (see serveBuffered). The connection's net.Conn returns
// errWouldBlock when the socket holds nothing.
func (c *Conn) serveReadable(s *EventServer, msg []byte) []byte {
	b := &c.rd
	if c.readsDirect() {
		return c.serveBuffered(s, msg)
	}
	if b.buf == nil {
		b.buf = getReadBuf()
	}
	if b.w == len(b.buf) {
		if b.r > 0 {
			n := copy(b.buf, b.buf[b.r:b.w])
			b.r, b.w = 0, n
		} else {
			// At most double what arrived: a header alone does not
			// make the loop allocate what it announces.
			grown := make([]byte, min(max(b.need, len(b.buf)+1), 2*len(b.buf)))
			copy(grown, b.buf)
			putReadBuf(b.buf)
			b.buf = grown
		}
	}
	n, err := b.nc.Read(b.buf[b.w:])
	if n > 0 {
		b.w += n
		return c.serveBuffered(s, msg)
	}
	if err != errWouldBlock {
		c.readFailed(err)
	}
	return msg
}

// appendPayload appends the rest of the current message to dst, returning
// io.EOF at its end or the error that stopped it.
func (c *Conn) appendPayload(dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			// Grow to the announced frame size at once, but no
			// further than DefaultReadLimit: with the limit raised
			// or removed, a header alone must not make wsx allocate
			// what it announces (2^62 bytes would panic).
			grow := 512
			if c.frameLeft > int64(grow) {
				grow = int(min(c.frameLeft, DefaultReadLimit))
			}
			dst = slices.Grow(dst, grow)
		}
		n, err := c.readPayload(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			return dst, err
		}
	}
}
