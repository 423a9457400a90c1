package wsx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// NetConn returns a net.Conn that carries a byte stream over c, for code
// written against net.Conn (line protocols, TLS, SSH, database drivers)
// that needs to run over WebSocket.
//
// Each Write call is sent as one message of type typ (an empty Write sends
// nothing). Read returns the payloads of the messages received as one
// stream, ignoring message boundaries; a message of another type than typ
// fails the connection with status 1003 (unsupported data), since the
// stream would be corrupted. Read returns io.EOF once the peer has closed
// the connection with status 1000 (normal closure) or 1001 (going away),
// and an error for any other ending. Close performs the closing handshake
// with status 1000.
//
// Deadlines follow the net.Conn contract, including for calls already
// waiting, and a passed deadline makes calls fail with an error that
// wraps os.ErrDeadlineExceeded and whose Timeout method reports true. A
// read deadline that passes before a message has begun leaves the
// connection usable once the deadline is moved; one that passes while a
// message is partly read, or a write deadline that passes while a message
// is being written, closes the connection, since the rest of that message
// can no longer be delivered (see Conn.Reader and Conn.Write).
//
// ctx bounds the life of the returned net.Conn: when it ends, pending and
// later calls fail and c is closed at once, without a closing handshake.
// The net.Conn must be the only reader of c; other goroutines may still
// write messages to c directly. The adapter runs no goroutine of its own:
// each deadline costs at most one timer.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	nc := &netConn{c: c, typ: typ}
	nc.rd.init(ctx)
	nc.wd.init(ctx)
	nc.stopCtx = context.AfterFunc(ctx, func() { c.CloseNow() })
	return nc
}

// netConn is the net.Conn that NetConn returns.
type netConn struct {
	c       *Conn
	typ     MessageType
	stopCtx func() bool

	// readMu serializes reads; r is the message being read, nil between
	// messages. r is guarded by readMu.
	readMu sync.Mutex
	r      io.Reader

	writeMu sync.Mutex

	rd, wd deadline

	closeMu sync.Mutex
	closed  bool // guarded by closeMu
}

var _ net.Conn = (*netConn)(nil)

// Read reads payload bytes of the messages received, waiting for the next
// message when the current one is used up.
func (nc *netConn) Read(p []byte) (int, error) {
	if nc.isClosed() {
		return 0, nc.opError("read", net.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	nc.readMu.Lock()
	defer nc.readMu.Unlock()
	for {
		ctx, err := nc.rd.begin()
		if err != nil {
			return 0, nc.opError("read", err)
		}
		n, err := nc.readLocked(ctx, p)
		nc.rd.end()
		if n > 0 || err != nil {
			return n, nc.readError(ctx, err)
		}
	}
}

// readLocked reads from the current message, starting the next one as
// needed. It returns 0, nil at the end of a message.
func (nc *netConn) readLocked(ctx context.Context, p []byte) (int, error) {
	if nc.r == nil {
		typ, r, err := nc.c.Reader(ctx)
		if err != nil {
			return 0, err
		}
		if typ != nc.typ {
			msg := fmt.Sprintf("expected %v messages, received %v", nc.typ, typ)
			nc.c.Close(StatusUnsupportedData, msg)
			return 0, fmt.Errorf("wsx: netconn: %s", msg)
		}
		nc.r = r
	}
	n, err := nc.r.Read(p)
	switch {
	case err == io.EOF:
		nc.r = nil
		err = nil
	case err != nil:
		// The connection is closed (see Conn.Reader); the next call
		// reports why rather than this reader's context.
		nc.r = nil
	}
	return n, err
}

// readError translates the error of a read: a normal close by the peer is
// the end of the stream.
func (nc *netConn) readError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	switch CloseStatus(err) {
	case StatusNormalClosure, StatusGoingAway:
		return io.EOF
	}
	return nc.callError("read", ctx, err)
}

// callError makes the error of a call that a passed deadline interrupted
// a timeout that wraps os.ErrDeadlineExceeded, however the Conn reported
// the context ending.
func (nc *netConn) callError(op string, ctx context.Context, err error) error {
	if !errors.Is(context.Cause(ctx), os.ErrDeadlineExceeded) {
		return err
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
	case errors.Is(err, context.Canceled):
		err = fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	default:
		return err
	}
	return nc.opError(op, timeoutError{err})
}

// timeoutError marks an error as a timeout for net.OpError.Timeout, which
// looks at its own Err only, not at what Err wraps.
type timeoutError struct{ err error }

func (e timeoutError) Error() string   { return e.err.Error() }
func (e timeoutError) Unwrap() error   { return e.err }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// Write sends p as one message.
func (nc *netConn) Write(p []byte) (int, error) {
	if nc.isClosed() {
		return 0, nc.opError("write", net.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	nc.writeMu.Lock()
	defer nc.writeMu.Unlock()
	ctx, err := nc.wd.begin()
	if err != nil {
		return 0, nc.opError("write", err)
	}
	err = nc.c.Write(ctx, nc.typ, p)
	nc.wd.end()
	if err != nil {
		return 0, nc.callError("write", ctx, err)
	}
	return len(p), nil
}

// Close performs the closing handshake with status 1000. It returns nil
// if the peer had already closed the connection, and an error wrapping
// net.ErrClosed when called again.
func (nc *netConn) Close() error {
	nc.closeMu.Lock()
	if nc.closed {
		nc.closeMu.Unlock()
		return nc.opError("close", net.ErrClosed)
	}
	nc.closed = true
	nc.closeMu.Unlock()
	nc.stopCtx()
	nc.rd.stop()
	nc.wd.stop()
	err := nc.c.Close(StatusNormalClosure, "")
	if err != nil && errors.Is(err, ErrClosed) && nc.c.closeRcvd.Load() != nil {
		// The peer closed first and its close frame was answered: the
		// handshake is complete.
		return nil
	}
	return err
}

func (nc *netConn) isClosed() bool {
	nc.closeMu.Lock()
	defer nc.closeMu.Unlock()
	return nc.closed
}

// LocalAddr returns the local network address of the underlying
// connection.
func (nc *netConn) LocalAddr() net.Addr { return nc.c.LocalAddr() }

// RemoteAddr returns the remote network address of the underlying
// connection.
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (nc *netConn) SetDeadline(t time.Time) error {
	if nc.isClosed() {
		return nc.opError("set deadline", net.ErrClosed)
	}
	nc.rd.set(t)
	nc.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for pending and future Read calls.
func (nc *netConn) SetReadDeadline(t time.Time) error {
	if nc.isClosed() {
		return nc.opError("set deadline", net.ErrClosed)
	}
	nc.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Write calls.
func (nc *netConn) SetWriteDeadline(t time.Time) error {
	if nc.isClosed() {
		return nc.opError("set deadline", net.ErrClosed)
	}
	nc.wd.set(t)
	return nil
}

func (nc *netConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "websocket", Source: nc.c.LocalAddr(), Addr: nc.c.RemoteAddr(), Err: err}
}

// deadline turns a net.Conn deadline into the context a Conn call needs.
// The context is cancelled only when the deadline passes while a call is
// in progress: a deadline that passes between calls fails the next call
// before it touches the connection, so the connection, which closes when
// a context ends halfway through a message, stays usable. A cancelled
// context is replaced by a fresh one at the next call.
type deadline struct {
	parent context.Context

	mu     sync.Mutex // guards the fields below
	at     time.Time  // zero for none
	timer  *time.Timer
	gen    uint64 // counts set calls, so a stale timer does nothing
	active bool   // a call is using ctx
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (d *deadline) init(parent context.Context) {
	d.parent = parent
	d.ctx, d.cancel = context.WithCancelCause(parent)
}

// begin returns the context for a call, or an error if the deadline has
// passed or the parent context ended.
func (d *deadline) begin() (context.Context, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.parent.Err() != nil {
		return nil, fmt.Errorf("wsx: netconn: %w", context.Cause(d.parent))
	}
	if !d.at.IsZero() && !time.Now().Before(d.at) {
		return nil, os.ErrDeadlineExceeded
	}
	if d.ctx.Err() != nil {
		d.cancel(nil)
		d.ctx, d.cancel = context.WithCancelCause(d.parent)
	}
	d.active = true
	return d.ctx, nil
}

func (d *deadline) end() {
	d.mu.Lock()
	d.active = false
	d.mu.Unlock()
}

// set moves the deadline; a call in progress is interrupted if it has
// passed, and otherwise is bound by the new deadline.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		if d.active {
			d.cancel(os.ErrDeadlineExceeded)
		}
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() { d.expire(gen) })
}

// expire interrupts the call in progress, if any, when the deadline set
// in generation gen passes.
func (d *deadline) expire(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gen == d.gen && d.active {
		d.cancel(os.ErrDeadlineExceeded)
	}
}

// stop releases the timer and the context.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.cancel(net.ErrClosed)
}
