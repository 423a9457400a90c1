package reconnect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/wsx-go/wsx"
)

// Errors returned by Client methods. They are distinct from wsx.ErrClosed,
// which reports a closed connection rather than a closed Client.
var (
	// ErrQueueFull is returned by Send when Options.QueueSize messages
	// are already waiting to be written.
	ErrQueueFull = errors.New("reconnect: send queue full")

	// ErrNotConnected is returned by SendNow when no connection is up.
	ErrNotConnected = errors.New("reconnect: not connected")

	// ErrClosed is returned by methods called after Close, and by
	// Flush and WaitConnected when Close ends their wait.
	ErrClosed = errors.New("reconnect: client closed")
)

// Defaults for the zero values of Options fields.
const (
	defaultConnectTimeout = 10 * time.Second
	defaultStableAfter    = 10 * time.Second
	defaultQueueSize      = 1024
	defaultReceiveBuffer  = 64
)

// reconnectCode and reconnectReason are sent in the close frame that ends
// a connection for Reconnect.
const (
	reconnectCode   = wsx.StatusNormalClosure
	reconnectReason = "reconnect"
)

// Options configures a Client. A nil *Options means the zero value, which
// uses the defaults documented on each field. New copies the options.
type Options struct {
	// Prepare, if set, is called before each connection attempt and
	// returns the URL and dial options to use, which may change from one
	// attempt to the next (a fresh token, another server). attempt
	// counts from 1 since the last connection ended, as Event.Attempt
	// does. An empty URL means the one given to New, nil options mean
	// DialOptions. An error counts as a failed attempt. ctx ends with
	// ConnectTimeout or when the Client is closed.
	Prepare func(ctx context.Context, attempt int) (url string, opts *wsx.DialOptions, err error)

	// DialOptions are passed to wsx.Dial when Prepare is nil or returns
	// nil options. Their PingInterval and IdleTimeout are best left at
	// zero in favour of PingInterval and InactivityTimeout below; if
	// they are set, a connection that wsx ends for them (with
	// wsx.ErrPongTimeout, or with status 1001 "idle timeout") is
	// reported with reason Inactivity.
	DialOptions *wsx.DialOptions

	// ConnectTimeout bounds each attempt: Prepare, dial, handshake and
	// OnConnect. Zero means 10s.
	ConnectTimeout time.Duration

	// Backoff spaces the attempts after failures; see Backoff for its
	// zero value.
	Backoff Backoff

	// StableAfter is how long a connection must last to reset the
	// backoff, so that the next failure waits Backoff.Min again. Zero
	// means 10s.
	StableAfter time.Duration

	// InactivityTimeout, when positive, ends a connection on which
	// nothing arrived from the server (no message, no pong to a ping of
	// PingInterval) for this long, with reason Inactivity, and
	// reconnects. Time the Client spends waiting for room in a full
	// Messages channel does not count as inactivity.
	InactivityTimeout time.Duration

	// PingInterval, when positive, sends a ping this often while
	// connected; the pong counts as activity for InactivityTimeout. A
	// ping that is still unanswered when the next one is due delays it:
	// there is at most one ping in flight. Without InactivityTimeout an
	// unanswered ping ends nothing.
	PingInterval time.Duration

	// QueueSize is how many messages Send can hold while they wait to
	// be written. Zero means 1024.
	QueueSize int

	// ReceiveBuffer is the capacity of the Messages channel. Zero means
	// 64.
	ReceiveBuffer int

	// OnConnect, if set, runs after each successful handshake, before
	// any queued message is written on the connection, for instance to
	// authenticate or subscribe. The Client does not read the
	// connection while OnConnect runs, so OnConnect may read replies
	// itself (they are not delivered to Messages), but Ping needs such
	// a read to return. An error, or ctx ending (ConnectTimeout, Close),
	// closes the connection and counts as a failed attempt.
	OnConnect func(ctx context.Context, c *wsx.Conn) error

	// OnEvent, if set, is called for every Event, one at a time and in
	// order, from the goroutine that manages the connection: while it
	// runs, the Client neither reconnects nor notices that a connection
	// ended. It must return quickly and must not call Close or wait for
	// the Client (WaitConnected, Flush); Send, SendNow, ClearQueue,
	// Reconnect and Conn are fine.
	OnEvent func(Event)
}

// Backoff spaces connection attempts. After n failures in a row (n = 0
// for the first), the Client waits min(Max, Min·Factorⁿ), scaled by a
// random factor in [1-Jitter, 1] so that many clients cut off at once do
// not come back all at once. Failed attempts and connections that ended
// before StableAfter count as failures.
//
// The zero Backoff means Min 100ms, Max 30s, Factor 2 and Jitter 0.5. In
// a Backoff that is not the zero value, Min, Max and Factor left at zero
// take those defaults and Jitter is used as given (0: no jitter); a
// Factor below 1 counts as 1 and a Jitter above 1 as 1.
type Backoff struct {
	Min    time.Duration
	Max    time.Duration
	Factor float64
	Jitter float64
}

func (b Backoff) withDefaults() Backoff {
	if b == (Backoff{}) {
		return Backoff{Min: 100 * time.Millisecond, Max: 30 * time.Second, Factor: 2, Jitter: 0.5}
	}
	if b.Min <= 0 {
		b.Min = 100 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	switch {
	case b.Factor == 0:
		b.Factor = 2
	case b.Factor < 1 || math.IsNaN(b.Factor):
		b.Factor = 1
	}
	b.Jitter = min(max(b.Jitter, 0), 1)
	return b
}

// delay returns the wait after n failures in a row.
func (b Backoff) delay(n int) time.Duration {
	d := float64(b.Min) * math.Pow(b.Factor, float64(n))
	if d > float64(b.Max) || math.IsInf(d, 0) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 {
		d *= 1 - b.Jitter*rand.Float64()
	}
	return time.Duration(d)
}

// Message is a message received from the server.
type Message struct {
	Type wsx.MessageType
	Data []byte
}

// item is a queued message; seq numbers them in Send order.
type item struct {
	seq  uint64
	typ  wsx.MessageType
	data []byte
}

// Client keeps a WebSocket connection to a URL: it dials, redials after
// failures with a backoff, writes queued messages on whichever connection
// is up and delivers received messages on one channel. Its methods are
// safe for concurrent use. See the package documentation for what it
// guarantees about delivery.
type Client struct {
	url     string
	opts    Options
	backoff Backoff

	msgs      chan Message
	wake      chan struct{} // a message was queued; capacity 1
	reconnect chan struct{} // Reconnect was called; capacity 1
	done      chan struct{} // closed when run has returned

	stopCtx context.Context // ends when Close is called
	stop    context.CancelFunc
	killCtx context.Context // ends when Close's context ends
	kill    context.CancelFunc

	mu          sync.Mutex
	closed      bool
	closeCode   wsx.StatusCode
	closeReason string
	closeErr    error // of the closing handshake made for Close

	queue    []item // queue[head:] waits to be written
	head     int
	seq      uint64 // of the last message queued
	inflight bool   // queue[head] is being written
	progress chan struct{}
	watched  bool // someone waits on progress

	live *session      // the connection that is up, or nil
	up   chan struct{} // closed when a connection comes up
}

// New returns a Client for the WebSocket URL u (ws:// or wss://) and
// starts connecting at once, in a goroutine of its own. Close stops it.
func New(u string, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.StableAfter <= 0 {
		o.StableAfter = defaultStableAfter
	}
	if o.QueueSize <= 0 {
		o.QueueSize = defaultQueueSize
	}
	if o.ReceiveBuffer <= 0 {
		o.ReceiveBuffer = defaultReceiveBuffer
	}
	c := &Client{
		url:       u,
		opts:      o,
		backoff:   o.Backoff.withDefaults(),
		msgs:      make(chan Message, o.ReceiveBuffer),
		wake:      make(chan struct{}, 1),
		reconnect: make(chan struct{}, 1),
		done:      make(chan struct{}),
		progress:  make(chan struct{}),
		up:        make(chan struct{}),
	}
	c.stopCtx, c.stop = context.WithCancel(context.Background())
	c.killCtx, c.kill = context.WithCancel(context.Background())
	go c.run()
	return c
}

// Messages returns the channel on which received messages arrive, in the
// order the server sent them on each connection. It is closed when Close
// has finished. Consume it promptly: while it is full the Client stops
// reading the connection, which also holds back pongs and close frames.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Send queues a copy of p as one message of type typ (wsx.MessageText or
// wsx.MessageBinary) and returns at once; the message is written when a
// connection is up, after the messages queued before it. Send does not
// wait for room: with Options.QueueSize messages already queued it
// returns ErrQueueFull. ctx is only checked once, so a context that has
// already ended makes Send return its error without queuing. After Close
// Send returns ErrClosed.
func (c *Client) Send(ctx context.Context, typ wsx.MessageType, p []byte) error {
	if typ != wsx.MessageText && typ != wsx.MessageBinary {
		return fmt.Errorf("reconnect: send: invalid message type %v", typ)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data := bytes.Clone(p)
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case len(c.queue)-c.head >= c.opts.QueueSize:
		c.mu.Unlock()
		return ErrQueueFull
	}
	if c.head > 0 && c.head >= len(c.queue)/2 {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
	c.seq++
	c.queue = append(c.queue, item{seq: c.seq, typ: typ, data: data})
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// SendNow writes p as one message on the current connection and returns
// Write's error, bypassing the queue: the message goes out between two
// queued messages (wsx writes whole messages one at a time), possibly
// before messages queued earlier. It returns ErrNotConnected when no
// connection is up and ErrClosed after Close. Nothing is retried: when
// SendNow returns an error the message did not reach the server (see the
// package documentation); ctx bounds the write as it does for
// wsx.Conn.Write.
func (c *Client) SendNow(ctx context.Context, typ wsx.MessageType, p []byte) error {
	c.mu.Lock()
	closed, s := c.closed, c.live
	c.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case s == nil:
		return ErrNotConnected
	}
	return s.conn.Write(ctx, typ, p)
}

// Flush waits until every message queued before the call has left the
// queue: written (its Write returned nil), or dropped by ClearQueue. It
// returns ctx's error if ctx ends first, and ErrClosed if the Client is
// closed with some of them still queued.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.seq
	for {
		if c.head == len(c.queue) || c.queue[c.head].seq > target {
			c.mu.Unlock()
			return nil
		}
		ch := c.progress
		c.watched = true
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			c.mu.Lock()
			flushed := c.head == len(c.queue) || c.queue[c.head].seq > target
			c.mu.Unlock()
			if flushed {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
}

// ClearQueue drops the queued messages and returns how many it dropped. A
// message being written at that moment is not dropped: it leaves the queue
// once written, or goes out first on the next connection if the write
// fails.
func (c *Client) ClearQueue() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.head
	if c.inflight {
		start++
	}
	n := len(c.queue) - start
	if n <= 0 {
		return 0
	}
	clear(c.queue[start:])
	c.queue = c.queue[:start]
	c.notifyLocked()
	return n
}

// notifyLocked wakes the Flush calls waiting for messages to leave the
// queue.
func (c *Client) notifyLocked() {
	if c.watched {
		close(c.progress)
		c.progress = make(chan struct{})
		c.watched = false
	}
}

// Reconnect ends the current connection with a closing handshake (status
// 1000, reason "reconnect") and connects again at once: the events are
// Disconnected and Connected with reason ByRequest. When no connection is
// up, Reconnect cuts short the wait before the next attempt; during an
// attempt it does nothing. It does not wait.
func (c *Client) Reconnect() {
	select {
	case c.reconnect <- struct{}{}:
	default:
	}
}

// WaitConnected waits until a connection is up. It returns ctx's error if
// ctx ends first, and ErrClosed if the Client is closed.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		closed, live, up := c.closed, c.live != nil, c.up
		c.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case live:
			return nil
		}
		select {
		case <-up:
		case <-c.stopCtx.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Conn returns the current connection, or nil when none is up. It may end
// at any moment; use it for what the Client does not do itself, such as
// Subprotocol or Ping, not to read (the Client reads) or to close (use
// Reconnect or Close).
func (c *Client) Conn() *wsx.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		return nil
	}
	return c.live.conn
}

// Close stops the Client: it stops reconnecting, ends the connection that
// is up with a closing handshake with code and reason (as for
// wsx.Conn.Close, whose error it returns), waits for the Client's
// goroutines to end and closes Messages. If ctx ends first, the
// connection is closed at once and Close returns ctx's error.
//
// unsent is the number of queued messages that were never written; they
// are dropped. A message is either counted here or was written (see the
// package documentation for what a written message guarantees). Close
// does not wait for the queue to drain: call Flush first for that.
// Received messages that do not fit in the Messages buffer once Close has
// begun are dropped. Calling Close again returns ErrClosed.
func (c *Client) Close(ctx context.Context, code wsx.StatusCode, reason string) (unsent int, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.closed = true
	c.closeCode, c.closeReason = code, reason
	c.mu.Unlock()
	c.stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		c.kill()
		<-c.done
		err = ctx.Err()
	}
	c.kill()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		err = c.closeErr
	}
	return len(c.queue) - c.head, err
}

// run makes connections one after another until Close.
func (c *Client) run() {
	defer close(c.done)
	defer close(c.msgs)
	reason := Initial
	fails := 0   // failures in a row, for the backoff
	attempt := 0 // attempts since the last connection ended
	for c.stopCtx.Err() == nil {
		attempt++
		conn, resp, err := c.connect(attempt)
		if err != nil {
			if c.stopCtx.Err() != nil {
				return
			}
			d := c.backoff.delay(fails)
			fails++
			c.emit(Event{Type: AttemptFailed, Reason: reason, Attempt: attempt, Err: err, Response: resp, RetryIn: d})
			c.pause(d)
			continue
		}
		start := time.Now()
		ev := c.serve(conn, Event{Type: Connected, Reason: reason, Attempt: attempt, Response: resp})
		attempt = 0
		if ev.Reason != ByRequest {
			if time.Since(start) >= c.opts.StableAfter {
				fails = 0
			}
			ev.RetryIn = c.backoff.delay(fails)
			fails++
		}
		c.emit(ev)
		c.pause(ev.RetryIn)
		reason = ev.Reason
	}
}

func (c *Client) emit(ev Event) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(ev)
	}
}

// pause waits d, or less if Reconnect is called or the Client is closed.
func (c *Client) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.reconnect:
	case <-c.stopCtx.Done():
	}
}

// connect makes one attempt: Prepare, Dial and OnConnect, within
// ConnectTimeout.
func (c *Client) connect(attempt int) (*wsx.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(c.stopCtx, c.opts.ConnectTimeout)
	defer cancel()
	u, opts := c.url, c.opts.DialOptions
	if c.opts.Prepare != nil {
		pu, po, err := c.opts.Prepare(ctx, attempt)
		if err != nil {
			return nil, nil, fmt.Errorf("reconnect: prepare: %w", err)
		}
		if pu != "" {
			u = pu
		}
		if po != nil {
			opts = po
		}
	}
	conn, resp, err := wsx.Dial(ctx, u, opts)
	if err != nil {
		return nil, resp, err
	}
	if c.opts.OnConnect == nil {
		return conn, resp, nil
	}
	// OnConnect may block on the connection: closing it when ctx ends
	// makes it return.
	stop := context.AfterFunc(ctx, func() { conn.CloseNow() })
	err = c.opts.OnConnect(ctx, conn)
	if !stop() {
		// The connection was closed under OnConnect, whose error is
		// then only a consequence.
		err = context.Cause(ctx)
	}
	if err != nil {
		c.closeConn(conn, wsx.StatusNormalClosure, "")
		return nil, resp, fmt.Errorf("reconnect: OnConnect: %w", err)
	}
	return conn, resp, nil
}

// closeConn performs the closing handshake, cut short if Close's context
// ends, and makes sure the connection is closed.
func (c *Client) closeConn(conn *wsx.Conn, code wsx.StatusCode, reason string) error {
	stop := context.AfterFunc(c.killCtx, func() { conn.CloseNow() })
	defer stop()
	err := conn.Close(code, reason)
	conn.CloseNow()
	return err
}
