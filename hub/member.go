package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsx-go/wsx"
)

// Member is one connection's membership in a Hub: the rooms it is in and
// the queue of messages waiting to be written to it. Its methods are safe
// to call from several goroutines.
type Member struct {
	h    *Hub
	conn *wsx.Conn

	// rooms maps the member's rooms to its index in each room's
	// members; guarded by h.mu, nil once the member has been removed.
	rooms map[string]int

	timer *time.Timer // ends a write that takes too long
	run   func()      // the writer, started when messages are queued

	written, writtenBytes atomic.Int64

	mu      sync.Mutex
	queue   ring
	running bool // a writer goroutine is draining the queue
	state   memberState
	err     error
	done    chan struct{} // closed when state leaves stateOpen

	closeCode   wsx.StatusCode // for stateClosing
	closeReason string
}

type memberState int

const (
	stateOpen    memberState = iota
	stateSlow                // queue overflowed under CloseSlow: close the connection with 1013
	stateFailed              // a write failed or timed out
	stateClosed              // Member.Close or Hub.Close
	stateClosing             // Member.CloseConn: write the queue, then close the connection
)

func newMember(h *Hub, c *wsx.Conn) *Member {
	m := &Member{
		h:     h,
		conn:  c,
		rooms: map[string]int{},
		done:  make(chan struct{}),
	}
	m.timer = time.AfterFunc(time.Hour, m.timedOut)
	m.timer.Stop()
	m.run = m.write
	return m
}

// Conn returns the member's connection.
func (m *Member) Conn() *wsx.Conn { return m.conn }

// Join adds the member to room. When the room is new on this node, Join
// subscribes this node to it through the broker and returns once the
// subscription is in effect (or ctx ends, or the broker is unreachable:
// see Broker.Subscribe), so that what is published to the room on any
// node afterwards reaches the member. Joining a room twice is the same as
// joining it once.
func (m *Member) Join(ctx context.Context, room string) error {
	return m.h.join(ctx, m, room)
}

// Leave takes the member out of room: messages published to it afterwards
// do not reach the member (messages already queued still do). When the
// member was the room's last on this node, the node unsubscribes from it.
// Leaving a room the member is not in does nothing.
func (m *Member) Leave(ctx context.Context, room string) error {
	return m.h.leave(ctx, m, room)
}

// Send queues a message for this member only, after whatever is queued
// already. data is copied. It returns an error if the member is closed or
// was closed by this message overflowing its queue.
func (m *Member) Send(typ wsx.MessageType, data []byte) error {
	pm, err := wsx.NewPreparedMessage(typ, append([]byte(nil), data...))
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if !m.enqueue(pm) {
		return m.Err()
	}
	return nil
}

// Close takes the member out of every room and drops its queued messages;
// the write in progress, if any, ends by itself. Close does not close the
// connection, which belongs to the caller. Closing a closed member does
// nothing.
func (m *Member) Close() {
	if m.stop(ErrClosed) {
		m.h.removeMember(m)
	}
}

// CloseConn takes the member out of every room, like Close, but lets its
// writer write what is queued for it first and then close the connection
// with code and reason (see wsx.Conn.Close): a server that ends a
// connection for a reason of its own can send errors and say goodbye in
// order. It returns at once; the caller keeps reading the connection
// until it ends, which is what completes the closing handshake.
func (m *Member) CloseConn(code wsx.StatusCode, reason string) {
	m.mu.Lock()
	if m.state != stateOpen {
		m.mu.Unlock()
		return
	}
	m.state = stateClosing
	m.closeCode, m.closeReason = code, reason
	m.err = ErrClosed
	close(m.done)
	m.startLocked()
	m.mu.Unlock()
	m.h.removeMember(m)
}

// Written returns how many messages the hub has written to the member's
// connection, and their payload bytes (before compression).
func (m *Member) Written() (messages, bytes int64) {
	return m.written.Load(), m.writtenBytes.Load()
}

// Done returns a channel that is closed once the member stops receiving
// messages: it was closed, or the hub closed it (for its policy, a failed
// write or Hub.Close).
func (m *Member) Done() <-chan struct{} { return m.done }

// Err returns why the member stopped receiving messages: ErrClosed,
// ErrQueueFull, an error wrapping ErrWriteTimeout or the error of a failed
// write; nil while it is open.
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// open reports whether the member still receives messages.
func (m *Member) open() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == stateOpen
}

// stop ends an open member with err, dropping its queue. It reports
// whether the member was open.
func (m *Member) stop(err error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		return false
	}
	m.state = stateClosed
	m.endLocked(err)
	return true
}

// endLocked records why the member ended and drops its queue; m.mu is
// held and m.state has been set.
func (m *Member) endLocked(err error) {
	m.err = err
	if n := m.queue.n; n > 0 {
		m.h.dropped.Add(uint64(n))
	}
	m.queue.reset()
	close(m.done)
}

// enqueue queues pm and makes sure a writer runs; it never waits for the
// connection. It reports whether pm was queued.
func (m *Member) enqueue(pm *wsx.PreparedMessage) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		m.h.dropped.Add(1)
		return false
	}
	if m.queue.n >= m.h.queueSize {
		if m.h.overflow == DropOldest {
			m.queue.pop()
			m.h.dropped.Add(1)
		} else {
			m.state = stateSlow
			m.endLocked(ErrQueueFull)
			m.h.dropped.Add(1)
			m.h.slowClosed.Add(1)
			m.startLocked()
			return false
		}
	}
	m.queue.push(pm, m.h.queueSize)
	m.startLocked()
	return true
}

// startLocked starts a writer unless one runs; m.mu is held.
func (m *Member) startLocked() {
	if m.running {
		return
	}
	m.running = true
	m.h.writers.Add(1)
	go m.run()
}

// write drains the queue onto the connection, and exits when it is empty.
// When the member has been closed by the policy, it closes the
// connection.
func (m *Member) write() {
	defer m.h.writers.Done()
	for {
		m.mu.Lock()
		if m.state != stateOpen && m.state != stateClosing {
			state := m.state
			m.running = false
			m.mu.Unlock()
			if state == stateSlow {
				m.closeSlow()
			}
			return
		}
		pm, ok := m.queue.pop()
		if !ok {
			m.running = false
			closing := m.state == stateClosing
			m.mu.Unlock()
			if closing {
				m.conn.Close(m.closeCode, m.closeReason)
			}
			return
		}
		m.mu.Unlock()

		// A context that cannot end costs the write nothing; the timer
		// ends a stuck write by closing the connection.
		m.timer.Reset(m.h.writeTimeout)
		err := m.conn.WritePrepared(context.Background(), pm)
		if !m.timer.Stop() {
			// The timer fired: the member ends for the timeout (the
			// timer's own call may not have run yet).
			m.timedOut()
			if err == nil {
				err = ErrWriteTimeout
			}
		}
		if err != nil {
			m.fail(err)
			return
		}
		m.h.delivered.Add(1)
		m.written.Add(1)
		m.writtenBytes.Add(int64(len(pm.Data())))
	}
}

// closeSlow takes a member closed by CloseSlow out of its rooms and closes
// its connection with 1013, from its writer.
func (m *Member) closeSlow() {
	m.h.removeMember(m)
	m.conn.Close(wsx.StatusTryAgainLater, "send queue full")
}

// timedOut ends the member when a write takes longer than WriteTimeout,
// and its connection, which ends the write.
func (m *Member) timedOut() {
	m.mu.Lock()
	if m.state == stateOpen {
		m.state = stateFailed
		m.endLocked(fmt.Errorf("%w: a write took longer than %v", ErrWriteTimeout, m.h.writeTimeout))
		m.h.slowClosed.Add(1)
	}
	m.mu.Unlock()
	m.conn.CloseNow()
}

// fail ends the member after a failed or timed out write, from its
// writer.
func (m *Member) fail(err error) {
	m.mu.Lock()
	state := m.state
	m.running = false
	if state == stateOpen {
		m.state = stateFailed
		m.endLocked(err)
	}
	m.mu.Unlock()
	switch state {
	case stateOpen:
		m.h.removeMember(m)
		if !errors.Is(err, wsx.ErrClosed) {
			m.conn.CloseNow()
		}
	case stateFailed:
		// Timed out; the connection is closed.
		m.h.removeMember(m)
	case stateSlow:
		// The queue overflowed while this write was stuck.
		m.closeSlow()
	}
	// stateClosed: closed meanwhile by Member.Close or Hub.Close;
	// stateClosing: the connection failed before it could be closed.
}

// ring is a FIFO of prepared messages that grows as needed up to a limit
// and lets go of its storage when it empties after growing large.
type ring struct {
	buf     []*wsx.PreparedMessage
	head, n int
}

// keepCap is the storage a ring keeps while empty.
const keepCap = 8

func (q *ring) push(pm *wsx.PreparedMessage, limit int) {
	if q.n == len(q.buf) {
		size := max(2*len(q.buf), keepCap)
		size = min(size, max(limit, 1))
		if size <= q.n {
			size = q.n + 1
		}
		buf := make([]*wsx.PreparedMessage, size)
		for i := 0; i < q.n; i++ {
			buf[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = pm
	q.n++
}

func (q *ring) pop() (*wsx.PreparedMessage, bool) {
	if q.n == 0 {
		return nil, false
	}
	pm := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > keepCap {
			q.buf = nil
		}
	}
	return pm, true
}

func (q *ring) reset() {
	q.buf, q.head, q.n = nil, 0, 0
}
