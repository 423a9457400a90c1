package wsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReadLimit is the largest message a Conn reads unless SetReadLimit
// or the options say otherwise: 32 MiB. It bounds the memory one message
// can make Read allocate; the streaming Reader honours it too.
const DefaultReadLimit = 32 << 20

// Conn is a WebSocket connection, made by Accept on a server or Dial on a
// client.
//
// Any number of goroutines may write to a Conn at once (whole messages and
// Writers are serialized; control frames may go out between the frames of
// a streamed message), but only one goroutine may read at a time. Pings are
// answered, and close frames handled, by whichever goroutine is reading, so
// a program that wants pongs and close handshakes must keep a read going.
type Conn struct {
	nc          net.Conn
	subprotocol string
	rd          bufReader
	deflate     *deflateState // nil unless permessage-deflate was agreed

	// Reading. The fields below are guarded by readLock.
	readLock  connLock
	readErr   error // once set, every read returns it
	msgType   MessageType
	msgGen    uint64 // counts messages, to spot stale readers
	msgLen    int64  // payload bytes of the current message announced so far
	frameLeft int64  // payload bytes of the current data frame not yet read
	framePos  int
	utf8      utf8Validator
	mr        messageReader

	readLimit atomic.Int64

	// Writing. msgLock is held for a whole data message, writeLock for
	// one frame. The fields below are guarded by writeLock.
	msgLock   connLock
	writeLock connLock
	wbuf      []byte
	pending   int            // bytes of coalesced frames at the start of wbuf
	iov       *vectorWrite   // made by the first write too big for wbuf
	mw        *messageWriter // made by the first Writer; guarded by msgLock

	flushTimer *time.Timer // coalescing writes (coalesce.go)

	closeRcvd atomic.Pointer[CloseError]
	sentClose atomic.Pointer[CloseError] // the close frame sent, for CloseSent
	aborted   atomic.Pointer[failure]    // why the keepalive closed the connection
	ka        *keepalive                 // nil unless a keepalive was asked for

	// mu guards the fields below it.
	mu      sync.Mutex
	done    chan struct{} // made by doneChan, closed with the TCP connection
	pingSeq uint64
	pings   map[uint64]chan struct{}

	// Made for context.AfterFunc by the first read or write that watches
	// a context, so watching one costs no closure per call. The flags
	// tell that one has run.
	expireRead  func()
	expireWrite func()
	readFired   atomic.Bool
	writeFired  atomic.Bool

	// The small fields, together so that they pack.
	frameKey      uint32      // guarded by readLock
	batch         atomic.Bool // the reader has a whole frame buffered
	pendingOut    atomic.Bool // wbuf holds coalesced frames
	closed        atomic.Bool // the TCP connection is closed
	client        bool
	inMsg         bool // a data message has begun and not ended; guarded by readLock
	msgCompressed bool // the current message is compressed (RSV1); guarded by readLock
	frameFin      bool // guarded by readLock
	closeSent     bool // guarded by writeLock
	evented       bool // served by an EventServer's loop, which is its reader
}

// vectorWrite is the vectored write of a frame header and a payload too big
// to copy into the write buffer.
type vectorWrite struct {
	bufs net.Buffers
	arr  [2][]byte
}

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// connConfig is what Accept and Dial settled for a new connection.
type connConfig struct {
	readLimit            int64
	deflate              *deflateConfig // nil unless permessage-deflate was agreed
	compressionLevel     int
	compressionThreshold int
	keepalive            keepaliveConfig
}

// newConn wraps an upgraded connection. preload holds bytes already read
// past the handshake, if any (readBufSize at most).
func newConn(nc net.Conn, client bool, preload []byte, subprotocol string, cfg connConfig) *Conn {
	c := &Conn{
		nc:          nc,
		client:      client,
		subprotocol: subprotocol,
	}
	readLimit := cfg.readLimit
	switch {
	case readLimit == 0:
		readLimit = DefaultReadLimit
	case readLimit < 0:
		readLimit = -1
	}
	c.readLimit.Store(readLimit)
	c.rd.init(nc, c)
	if len(preload) > 0 {
		c.rd.preload(preload)
	}
	c.mr.c = c
	if cfg.deflate != nil {
		c.deflate = newDeflateState(c, *cfg.deflate, cfg.compressionLevel, cfg.compressionThreshold)
	}
	c.startKeepalive(cfg.keepalive)
	return c
}

// Subprotocol returns the subprotocol both sides agreed on in the opening
// handshake, or "" if none.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadLimit sets the largest message, in payload bytes, that the
// connection reads; a negative n removes the limit. A message over the
// limit fails the connection with status 1009 (message too big) as soon as
// a frame header announces it, before its payload is read. The default is
// DefaultReadLimit.
func (c *Conn) SetReadLimit(n int64) {
	if n < 0 {
		n = -1
	}
	c.readLimit.Store(n)
}

// closeNet closes the TCP connection once and reports whether this call
// did it.
func (c *Conn) closeNet() bool {
	if !c.closed.CompareAndSwap(false, true) {
		return false
	}
	c.readLock.breakWaiters()
	c.msgLock.breakWaiters()
	c.writeLock.breakWaiters()
	c.mu.Lock()
	if c.done != nil {
		close(c.done)
	}
	c.mu.Unlock()
	c.nc.Close()
	if c.ka != nil {
		c.ka.stop()
	}
	if c.flushTimer != nil {
		c.flushTimer.Stop()
	}
	return true
}

func (c *Conn) isClosed() bool { return c.closed.Load() }

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// doneChan returns a channel closed when the TCP connection closes. The
// channel is made on first use, so a connection nobody waits on has none.
func (c *Conn) doneChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.isClosed() {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

// watchRead arranges for a blocked read to return when ctx ends. It costs
// nothing for a context that cannot end.
func (c *Conn) watchRead(ctx context.Context) func() bool {
	if ctx.Done() == nil {
		return nil
	}
	if c.expireRead == nil {
		c.expireRead = func() {
			c.nc.SetReadDeadline(aLongTimeAgo)
			c.readFired.Store(true)
		}
	}
	return context.AfterFunc(ctx, c.expireRead)
}

// unwatchRead undoes watchRead and reports whether ctx ended meanwhile, in
// which case the read deadline, which the watcher moved into the past, is
// cleared again so the connection stays usable.
func (c *Conn) unwatchRead(stop func() bool) bool {
	if stop == nil || stop() {
		return false
	}
	waitFired(&c.readFired)
	c.nc.SetReadDeadline(time.Time{})
	return true
}

// readInterrupted undoes watchRead after a read that returned err, and
// reports whether the error came from ctx ending rather than from the
// connection. A close frame from the peer that arrived meanwhile is the
// connection's news, not the context's.
func (c *Conn) readInterrupted(stop func() bool, err error) bool {
	return c.unwatchRead(stop) && err != nil && err != io.EOF && c.closeRcvd.Load() == nil
}

func (c *Conn) watchWrite(ctx context.Context) func() bool {
	if ctx.Done() == nil {
		return nil
	}
	if c.expireWrite == nil {
		c.expireWrite = func() {
			c.nc.SetWriteDeadline(aLongTimeAgo)
			c.writeFired.Store(true)
		}
	}
	return context.AfterFunc(ctx, c.expireWrite)
}

// unwatchWrite undoes watchWrite after a write that returned err, and
// returns the write's result: err, or the context's error when ctx ended
// and interrupted the write. A write that completed although ctx ended
// meanwhile succeeded, and the write deadline the watcher moved into the
// past is cleared again. A write interrupted halfway leaves a partial
// frame on the wire, so the caller closes the connection when this returns
// an error.
func (c *Conn) unwatchWrite(stop func() bool, ctx context.Context, op string, err error) error {
	if stop == nil || stop() {
		return err
	}
	waitFired(&c.writeFired)
	if err == nil {
		c.nc.SetWriteDeadline(time.Time{})
		return nil
	}
	return ctxError(op, ctx)
}

// waitFired waits until a watcher that has started has finished, which
// takes a moment, and resets its flag.
func waitFired(fired *atomic.Bool) {
	for !fired.Load() {
		runtime.Gosched()
	}
	fired.Store(false)
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// ctxError reports a context that ended during op.
func ctxError(op string, ctx context.Context) error {
	return fmt.Errorf("wsx: %s: %w", op, context.Cause(ctx))
}
