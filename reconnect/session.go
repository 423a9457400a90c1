package reconnect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsx-go/wsx"
)

// session is one connection while it is up: a reader, a writer and, with
// PingInterval, a heartbeat goroutine, watched by the Client's run
// goroutine.
type session struct {
	c    *Client
	conn *wsx.Conn

	// ctx ends when the session is torn down; the writer and the
	// heartbeat stop on it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	epoch      time.Time
	lastSeen   atomic.Int64 // time since epoch when the server was last heard from
	delivering atomic.Bool  // the reader waits for room in Messages

	readDone  chan struct{} // closed when the reader has returned; readErr is set
	readErr   error
	writeDone chan struct{} // closed when the writer failed; writeErr is set
	writeErr  error
}

// errInactive is the Err of a Disconnected event for InactivityTimeout.
type errInactive time.Duration

func (e errInactive) Error() string {
	return fmt.Sprintf("reconnect: nothing received for %v", time.Duration(e))
}

// trigger is what made the run goroutine end a session.
type trigger int

const (
	byConn      trigger = iota // the connection failed or was closed
	byInactive                 // InactivityTimeout
	byReconnect                // Reconnect
	byClose                    // Close
)

// serve runs conn until it ends, emitting connected once the session's
// goroutines are running, and returns the Disconnected event (without
// RetryIn).
func (c *Client) serve(conn *wsx.Conn, connected Event) Event {
	s := &session{
		c:         c,
		conn:      conn,
		epoch:     time.Now(),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// A Reconnect requested before this connection came up is
	// satisfied by it.
	select {
	case <-c.reconnect:
	default:
	}
	s.wg.Add(2)
	go s.reader()
	go s.writer()
	if c.opts.PingInterval > 0 {
		s.wg.Add(1)
		go s.heartbeat()
	}
	c.mu.Lock()
	c.live = s
	close(c.up)
	c.mu.Unlock()
	c.emit(connected)

	var inactive <-chan time.Time
	var timer *time.Timer
	d := c.opts.InactivityTimeout
	if d > 0 {
		timer = time.NewTimer(d)
		defer timer.Stop()
		inactive = timer.C
	}
	for {
		select {
		case <-inactive:
			if s.delivering.Load() {
				// Waiting for the program is not the server's
				// silence.
				s.touch()
			}
			idle := time.Since(s.epoch) - time.Duration(s.lastSeen.Load())
			if idle >= d {
				return s.end(byInactive)
			}
			timer.Reset(d - idle)
		case <-s.readDone:
			return s.end(byConn)
		case <-s.writeDone:
			return s.end(byConn)
		case <-c.reconnect:
			return s.end(byReconnect)
		case <-c.stopCtx.Done():
			return s.end(byClose)
		}
	}
}

// end tears the session down and describes how it ended.
func (s *session) end(why trigger) Event {
	c := s.c
	c.mu.Lock()
	c.live = nil
	c.up = make(chan struct{})
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()

	switch why {
	case byReconnect:
		s.c.closeConn(s.conn, reconnectCode, reconnectReason)
	case byClose:
		err := s.c.closeConn(s.conn, code, reason)
		c.mu.Lock()
		c.closeErr = err
		c.mu.Unlock()
	default:
		s.conn.CloseNow()
	}
	s.cancel()
	s.wg.Wait()

	ev := Event{Type: Disconnected}
	switch why {
	case byReconnect, byClose:
		ev.Reason = ByRequest
		return ev
	case byInactive:
		ev.Reason = Inactivity
		ev.Err = errInactive(c.opts.InactivityTimeout)
		return ev
	}

	// The connection ended by itself. The reader's error tells why,
	// unless the reader only saw the connection closed by a failed
	// write; wsx's own verdicts (a failure, a keepalive timeout, a close
	// frame) are checked first.
	ev.Err = s.readErr
	if s.writeErr != nil && errors.Is(s.readErr, wsx.ErrClosed) {
		ev.Err = s.writeErr
	}
	sent, sentOK := s.conn.CloseSent()
	rcvd, rcvdOK := s.conn.CloseReceived()
	switch {
	case errors.Is(s.readErr, wsx.ErrProtocol), errors.Is(s.readErr, wsx.ErrInvalidUTF8), errors.Is(s.readErr, wsx.ErrMessageTooBig):
		ev.Reason = Error
		ev.Err = s.readErr
	case errors.Is(s.readErr, wsx.ErrPongTimeout), errors.Is(s.writeErr, wsx.ErrPongTimeout):
		ev.Reason = Inactivity
	case sentOK && sent.Code == wsx.StatusGoingAway && sent.Reason == "idle timeout":
		// wsx's IdleTimeout closed the connection.
		ev.Reason = Inactivity
	case rcvdOK:
		ev.Reason = ServerClosed
		ev.Code, ev.CloseReason = rcvd.Code, rcvd.Reason
		var ce wsx.CloseError
		if !errors.As(ev.Err, &ce) {
			ev.Err = rcvd
		}
	default:
		ev.Reason = Lost
	}
	return ev
}

// touch records that the server was heard from.
func (s *session) touch() {
	s.lastSeen.Store(int64(time.Since(s.epoch)))
}

// reader reads messages and delivers them until the connection ends.
func (s *session) reader() {
	defer s.wg.Done()
	defer close(s.readDone)
	c := s.c
	for {
		typ, p, err := s.conn.Read(context.Background())
		if err != nil {
			s.readErr = err
			return
		}
		s.touch()
		m := Message{Type: typ, Data: p}
		select {
		case c.msgs <- m:
			continue
		default:
		}
		s.delivering.Store(true)
		select {
		case c.msgs <- m:
		case <-c.stopCtx.Done():
			// Close has begun: what does not fit is dropped.
		}
		s.delivering.Store(false)
		s.touch()
	}
}

// writer writes the head of the queue until the queue is empty, then
// waits for more. A message leaves the queue only once its Write returned
// nil; wsx reports an error only for a frame that did not get to the
// operating system whole (see the package documentation). Writes use a
// context that never ends: a write stuck on a dead connection is ended by
// closing the connection, which Disconnected then reports as Lost.
func (s *session) writer() {
	defer s.wg.Done()
	c := s.c
	for {
		c.mu.Lock()
		if c.head == len(c.queue) {
			c.mu.Unlock()
			select {
			case <-c.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if s.ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		it := c.queue[c.head]
		c.inflight = true
		c.mu.Unlock()

		err := s.conn.Write(context.Background(), it.typ, it.data)

		c.mu.Lock()
		c.inflight = false
		if err == nil {
			c.queue[c.head] = item{}
			c.head++
			if c.head == len(c.queue) {
				c.queue = c.queue[:0]
				c.head = 0
			}
			c.notifyLocked()
		}
		c.mu.Unlock()
		if err != nil {
			s.writeErr = err
			close(s.writeDone)
			return
		}
	}
}

// heartbeat pings the server every PingInterval; a pong counts as
// activity.
func (s *session) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		// The ping is not bounded by a timeout of its own: a context
		// ending while the ping is being written would close the
		// connection. InactivityTimeout decides when silence is too
		// long.
		if err := s.conn.Ping(s.ctx); err != nil {
			return
		}
		s.touch()
	}
}
