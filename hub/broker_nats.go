package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsx-go/wsx"
)

// NATSOptions configures a NATSBroker. A nil *NATSOptions means the zero
// value.
type NATSOptions struct {
	// SubjectPrefix starts every subject the broker uses, so that
	// several applications can share one NATS; "" means
	// DefaultSubjectPrefix. It is one or more dot-separated tokens of
	// letters, digits, '-' and '_'.
	SubjectPrefix string

	// NodeID names this node in the headers of what it publishes, so
	// that it can ignore its own messages coming back; "" means a
	// random ID. Up to 64 letters, digits, '-', '_' and '.'; each node
	// needs its own.
	NodeID string

	// PresenceWindow is how long Presence waits for other nodes to
	// answer; 0 means DefaultPresenceWindow.
	PresenceWindow time.Duration

	// Pending is how many received messages may wait between the NATS
	// client and the hub; 0 means DefaultPending. Messages arriving
	// while it is full are dropped (NATS reports a slow consumer to the
	// connection's error handler). The hub only queues each message for
	// the members, so it keeps up unless the machine is overloaded.
	Pending int
}

// Defaults for the zero values of NATSOptions.
const (
	DefaultSubjectPrefix  = "wsx.hub"
	DefaultPresenceWindow = 100 * time.Millisecond
	DefaultPending        = 65536
)

// Message headers of the NATS broker. Messages without HeaderNode come
// from outside the hub (such as "nats pub") and are delivered like any
// other; without HeaderType they are text.
const (
	HeaderNode  = "Wsx-Node"  // the publishing node's ID
	HeaderType  = "Wsx-Type"  // "binary" for binary messages
	HeaderEvent = "Wsx-Event" // "presence" (a query) or "members" (a change); absent for messages
)

const (
	eventPresence = "presence"
	eventMembers  = "members"
)

// NATSBroker is a Broker that connects nodes through NATS, with the
// official client. Each room is one subject, <prefix>.room.<room>, which
// carries the room's messages (the payload as is, the type and the
// publishing node in headers), presence queries and membership changes.
// Room names are escaped to make one subject token: bytes other than ASCII
// letters, digits, '-' and '_' are written as %XX (upper-case hex), so
// "a.b c" is "a%2Eb%20c".
//
// Publish, MembersChanged and Presence return an error wrapping
// ErrUnavailable unless the connection's status is CONNECTED, rather than
// let the client buffer messages while it reconnects. Subscriptions
// survive a disconnection: the NATS client subscribes again when it
// reconnects, and messages flow again from then on. Messages published
// on other nodes meanwhile are lost for this node.
//
// Presence sends a query on the room's subject and sums the answers of
// the other nodes that have members in the room, as they arrive within
// PresenceWindow.
type NATSBroker struct {
	nc     *nats.Conn
	prefix string
	node   string
	window time.Duration

	ch   chan *nats.Msg // every room subscription delivers here, in order
	stop chan struct{}
	done chan struct{}

	mu     sync.RWMutex
	subs   map[*nats.Subscription]RoomHandler
	closed bool
}

// NewNATSBroker returns a broker that uses nc, an open connection. Close
// ends the broker's subscriptions but leaves nc open. Give nc
// nats.MaxReconnects(-1), so that it keeps trying to reconnect for as
// long as NATS is down: by default the client gives up after 60 tries,
// and the broker with it.
func NewNATSBroker(nc *nats.Conn, opts *NATSOptions) (*NATSBroker, error) {
	if opts == nil {
		opts = &NATSOptions{}
	}
	b := &NATSBroker{
		nc:     nc,
		prefix: opts.SubjectPrefix,
		node:   opts.NodeID,
		window: opts.PresenceWindow,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		subs:   map[*nats.Subscription]RoomHandler{},
	}
	if b.prefix == "" {
		b.prefix = DefaultSubjectPrefix
	}
	for _, tok := range strings.Split(b.prefix, ".") {
		if tok == "" || !allSafe(tok, "") {
			return nil, fmt.Errorf("hub: invalid NATS subject prefix %q", b.prefix)
		}
	}
	if b.node == "" {
		var id [8]byte
		rand.Read(id[:])
		b.node = hex.EncodeToString(id[:])
	}
	if len(b.node) > 64 || !allSafe(b.node, ".") {
		return nil, fmt.Errorf("hub: invalid node ID %q", b.node)
	}
	if b.window <= 0 {
		b.window = DefaultPresenceWindow
	}
	pending := opts.Pending
	if pending <= 0 {
		pending = DefaultPending
	}
	b.ch = make(chan *nats.Msg, pending)
	go b.dispatch()
	return b, nil
}

// NodeID returns this node's ID.
func (b *NATSBroker) NodeID() string { return b.node }

// Subject returns the NATS subject of a room.
func (b *NATSBroker) Subject(room string) string {
	return b.prefix + ".room." + escapeToken(room)
}

// Subscribe subscribes to the room's subject. When connected, it waits
// for the NATS server to confirm (ctx bounds the wait; without a
// deadline, 5 seconds); when not, the client sends the subscription on
// reconnecting.
func (b *NATSBroker) Subscribe(ctx context.Context, room string, h RoomHandler) (func() error, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	sub, err := b.nc.ChanSubscribe(b.Subject(room), b.ch)
	if err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("nats: subscribe: %w", err)
	}
	b.subs[sub] = h
	b.mu.Unlock()

	if b.nc.Status() == nats.CONNECTED {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		// An error leaves the subscription to the reconnection.
		b.nc.FlushWithContext(ctx)
	}
	unsub := func() error {
		b.mu.Lock()
		delete(b.subs, sub)
		b.mu.Unlock()
		err := sub.Unsubscribe()
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			return fmt.Errorf("nats: unsubscribe: %w", err)
		}
		return nil
	}
	return unsub, nil
}

// connected returns nil when the connection is up.
func (b *NATSBroker) connected() error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: NATS connection %s", ErrUnavailable, strings.ToLower(st.String()))
	}
	return nil
}

// Publish publishes m on the room's subject.
func (b *NATSBroker) Publish(ctx context.Context, room string, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.connected(); err != nil {
		return err
	}
	hdr := nats.Header{HeaderNode: []string{b.node}}
	if m.Type == wsx.MessageBinary {
		hdr[HeaderType] = []string{"binary"}
	}
	return b.nc.PublishMsg(&nats.Msg{Subject: b.Subject(room), Header: hdr, Data: m.Data})
}

// MembersChanged publishes a membership change on the room's subject.
func (b *NATSBroker) MembersChanged(ctx context.Context, room string) error {
	if err := b.connected(); err != nil {
		return err
	}
	hdr := nats.Header{HeaderNode: []string{b.node}, HeaderEvent: []string{eventMembers}}
	return b.nc.PublishMsg(&nats.Msg{Subject: b.Subject(room), Header: hdr})
}

// Presence queries the other nodes with members in room and sums their
// answers, waiting PresenceWindow for them or until ctx ends.
func (b *NATSBroker) Presence(ctx context.Context, room string) (int, error) {
	if err := b.connected(); err != nil {
		return 0, err
	}
	inbox := b.nc.NewInbox()
	replies := make(chan *nats.Msg, 64)
	sub, err := b.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return 0, fmt.Errorf("nats: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	hdr := nats.Header{HeaderNode: []string{b.node}, HeaderEvent: []string{eventPresence}}
	if err := b.nc.PublishMsg(&nats.Msg{Subject: b.Subject(room), Reply: inbox, Header: hdr}); err != nil {
		return 0, err
	}
	timer := time.NewTimer(b.window)
	defer timer.Stop()
	seen := map[string]bool{}
	total := 0
	for {
		select {
		case r := <-replies:
			node := r.Header.Get(HeaderNode)
			n, err := strconv.Atoi(string(r.Data))
			if node == "" || seen[node] || err != nil || n < 0 {
				continue
			}
			seen[node] = true
			total += n
		case <-timer.C:
			return total, nil
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
}

// Close ends the broker's subscriptions and its goroutine. The connection
// stays open.
func (b *NATSBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for sub := range subs {
		sub.Unsubscribe()
	}
	close(b.stop)
	<-b.done
	return nil
}

// dispatch hands what arrives on the room subscriptions to the rooms, in
// the order it arrives.
func (b *NATSBroker) dispatch() {
	defer close(b.done)
	for {
		select {
		case msg := <-b.ch:
			b.handle(msg)
		case <-b.stop:
			return
		}
	}
}

func (b *NATSBroker) handle(msg *nats.Msg) {
	b.mu.RLock()
	h := b.subs[msg.Sub]
	b.mu.RUnlock()
	if h == nil || msg.Header.Get(HeaderNode) == b.node {
		// Unsubscribed meanwhile, or this node's own.
		return
	}
	switch msg.Header.Get(HeaderEvent) {
	case "":
		typ := wsx.MessageText
		if msg.Header.Get(HeaderType) == "binary" {
			typ = wsx.MessageBinary
		}
		h.Deliver(Message{Type: typ, Data: msg.Data})
	case eventMembers:
		h.MembersChanged()
	case eventPresence:
		if msg.Reply != "" {
			hdr := nats.Header{HeaderNode: []string{b.node}}
			b.nc.PublishMsg(&nats.Msg{Subject: msg.Reply, Header: hdr, Data: strconv.AppendInt(nil, int64(h.Members()), 10)})
		}
	}
}

// escapeToken makes a room name one subject token: bytes other than ASCII
// letters, digits, '-' and '_' become %XX.
func escapeToken(s string) string {
	if allSafe(s, "") {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func safeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// allSafe reports whether s is made of safe bytes and bytes in extra.
func allSafe(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}
