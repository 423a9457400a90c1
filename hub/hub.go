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

// Errors reported by the hub. Test for them with errors.Is.
var (
	// ErrClosed is returned for a Hub or Member that has been closed.
	ErrClosed = errors.New("hub: closed")

	// ErrInvalidRoom is returned for an empty room name or one longer
	// than MaxRoomLength.
	ErrInvalidRoom = errors.New("hub: invalid room name")

	// ErrTooManyRooms is returned by Member.Join for a member already in
	// Options.MaxRooms rooms.
	ErrTooManyRooms = errors.New("hub: too many rooms for one member")

	// ErrUnavailable reports that the broker cannot reach the other
	// nodes (NATS is down). Local delivery is not affected.
	ErrUnavailable = errors.New("hub: broker unavailable")

	// ErrQueueFull is a member's error once it has been closed because
	// its send queue was full (CloseSlow).
	ErrQueueFull = errors.New("hub: send queue full")

	// ErrWriteTimeout is a member's error once it has been closed
	// because a write took longer than Options.WriteTimeout.
	ErrWriteTimeout = errors.New("hub: write timed out")
)

// MaxRoomLength is the longest room name, in bytes.
const MaxRoomLength = 128

// Defaults for the zero values of Options.
const (
	DefaultQueueSize    = 256
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxRooms     = 16
)

// OverflowPolicy says what happens when a message is due to a member
// whose send queue is full.
type OverflowPolicy int

const (
	// CloseSlow closes the member: it leaves every room at once, its
	// queue is dropped, and its connection is closed with status 1013
	// (try again later) and the reason "send queue full" as soon as the
	// write in progress, if any, has ended. A client that was slow for
	// a while can reconnect; one that reads nothing never holds more
	// than a queue's worth of messages. It is the default.
	CloseSlow OverflowPolicy = iota

	// DropOldest drops the oldest queued message to make room for the
	// new one: the member keeps its connection and misses messages,
	// which suits feeds where only the latest values matter.
	DropOldest
)

// String returns the policy's name.
func (p OverflowPolicy) String() string {
	switch p {
	case CloseSlow:
		return "close-slow"
	case DropOldest:
		return "drop-oldest"
	}
	return fmt.Sprintf("OverflowPolicy(%d)", int(p))
}

// Options configures a Hub. A nil *Options means the zero value.
type Options struct {
	// Broker carries messages to and from other nodes; nil means a
	// MemoryBroker (this node only). The Hub closes it in Close.
	Broker Broker

	// QueueSize is how many messages may wait for each member; 0 means
	// DefaultQueueSize. The queue takes memory only while it holds
	// messages.
	QueueSize int

	// Overflow says what happens to a member whose queue is full.
	Overflow OverflowPolicy

	// WriteTimeout bounds each write to a member's connection; 0 means
	// DefaultWriteTimeout. A write that takes longer closes the member
	// and its connection at once, without a closing handshake (a close
	// frame could not get through either).
	WriteTimeout time.Duration

	// MaxRooms is how many rooms one member may be in at once; 0 means
	// DefaultMaxRooms.
	MaxRooms int

	// OnPresenceChange, if set, is called with a room's name when its
	// members changed: after a Join or Leave on this node, when a
	// member was closed, or when another node reports a change. It may
	// be called from several goroutines at once and must not block.
	OnPresenceChange func(room string)

	// OnError, if set, receives errors that no call returns, such as a
	// broker failing to tell other nodes about a membership change.
	// It must not block.
	OnError func(error)
}

// Stats are counters of a Hub since it was made, and its current size.
type Stats struct {
	Published    uint64 // messages published on this node (Publish, PublishLocal)
	Received     uint64 // messages received from other nodes
	Delivered    uint64 // messages written to members' connections
	Dropped      uint64 // messages dropped: by DropOldest, or queued for members that were closed
	SlowClosed   uint64 // members closed for a full queue (CloseSlow) or a write timeout
	BrokerErrors uint64 // failed broker calls: Publish, MembersChanged, Presence, Subscribe
	Members      int    // members now
	Rooms        int    // rooms with members on this node now
}

// Hub keeps rooms of WebSocket connections and delivers each message
// published to a room to every member, on this node directly and on other
// nodes through the Broker. See the package documentation for the
// guarantees.
type Hub struct {
	broker           Broker
	queueSize        int
	overflow         OverflowPolicy
	writeTimeout     time.Duration
	maxRooms         int
	onPresenceChange func(string)
	onError          func(error)

	mu      sync.RWMutex
	closed  bool
	rooms   map[string]*room
	members map[*Member]struct{}

	writers sync.WaitGroup // running member writers

	published, received, delivered, dropped, slowClosed, brokerErrors atomic.Uint64
}

// room is a room with members on this node. It lives from its first
// member's Join to its last member's Leave; a later Join makes a new one.
type room struct {
	name    string
	members []*Member // guarded by Hub.mu; each member knows its index

	deliverMu sync.Mutex // one delivery at a time, so all members see one order

	ready  chan struct{} // closed once the broker subscription is made
	subErr error         // set before ready is closed

	subMu   sync.Mutex
	unsub   func() error // the broker subscription, once made
	removed bool         // the last member left
}

// New returns a Hub.
func New(opts *Options) *Hub {
	if opts == nil {
		opts = &Options{}
	}
	h := &Hub{
		broker:           opts.Broker,
		queueSize:        opts.QueueSize,
		overflow:         opts.Overflow,
		writeTimeout:     opts.WriteTimeout,
		maxRooms:         opts.MaxRooms,
		onPresenceChange: opts.OnPresenceChange,
		onError:          opts.OnError,
		rooms:            map[string]*room{},
		members:          map[*Member]struct{}{},
	}
	if h.broker == nil {
		h.broker = NewMemoryBroker()
	}
	if h.queueSize <= 0 {
		h.queueSize = DefaultQueueSize
	}
	if h.writeTimeout <= 0 {
		h.writeTimeout = DefaultWriteTimeout
	}
	if h.maxRooms <= 0 {
		h.maxRooms = DefaultMaxRooms
	}
	return h
}

// Add makes c a member of the hub, in no room yet. From now on the hub
// writes to c, from a goroutine of the member's own that runs while
// messages are queued; the caller keeps reading c (a read loop is what
// answers pings and notices the peer closing) and may write to c too.
// When the caller is done with c, it calls Member.Close. On a closed hub,
// Add returns a member that is closed already.
func (h *Hub) Add(c *wsx.Conn) *Member {
	m := newMember(h, c)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		m.state = stateClosed
		m.err = ErrClosed
		close(m.done)
		return m
	}
	h.members[m] = struct{}{}
	return m
}

func checkRoom(name string) error {
	if name == "" || len(name) > MaxRoomLength {
		return fmt.Errorf("%w: %d bytes (1 to %d allowed)", ErrInvalidRoom, len(name), MaxRoomLength)
	}
	return nil
}

// Publish delivers a message of type typ to every member of room: on this
// node by queueing it for each member, which never waits for a slow
// member, and on the other nodes through the broker. data is copied, so
// the caller may reuse it. The message is framed, and compressed, once
// for all local members that can share the result.
//
// An error other than ErrClosed or ErrInvalidRoom means the message may
// not have reached the other nodes (it wraps ErrUnavailable when the
// broker cannot be reached); the members on this node got it all the
// same.
func (h *Hub) Publish(ctx context.Context, room string, typ wsx.MessageType, data []byte) error {
	data = append([]byte(nil), data...)
	if err := h.publishLocal(room, typ, data); err != nil {
		return err
	}
	if err := h.broker.Publish(ctx, room, Message{Type: typ, Data: data}); err != nil {
		h.brokerErrors.Add(1)
		return fmt.Errorf("hub: publish to other nodes: %w", err)
	}
	return nil
}

// PublishLocal delivers a message to the members of room on this node
// only, such as presence figures that differ from node to node.
func (h *Hub) PublishLocal(room string, typ wsx.MessageType, data []byte) error {
	return h.publishLocal(room, typ, append([]byte(nil), data...))
}

func (h *Hub) publishLocal(room string, typ wsx.MessageType, data []byte) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	pm, err := wsx.NewPreparedMessage(typ, data)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return ErrClosed
	}
	h.published.Add(1)
	if r := h.rooms[room]; r != nil {
		h.deliverLocked(r, pm)
	}
	return nil
}

// deliverLocked queues pm for every member of r; h.mu is held for reading.
func (h *Hub) deliverLocked(r *room, pm *wsx.PreparedMessage) {
	r.deliverMu.Lock()
	for _, m := range r.members {
		m.enqueue(pm)
	}
	r.deliverMu.Unlock()
}

// Presence returns the number of members of room on this node and on all
// nodes. When the broker cannot count the other nodes' members, it
// returns the local count for both and the error.
func (h *Hub) Presence(ctx context.Context, room string) (local, cluster int, err error) {
	if err := checkRoom(room); err != nil {
		return 0, 0, err
	}
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return 0, 0, ErrClosed
	}
	if r := h.rooms[room]; r != nil {
		local = len(r.members)
	}
	h.mu.RUnlock()
	others, err := h.broker.Presence(ctx, room)
	if err != nil {
		h.brokerErrors.Add(1)
		return local, local, fmt.Errorf("hub: presence on other nodes: %w", err)
	}
	return local, local + others, nil
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	members, rooms := len(h.members), len(h.rooms)
	h.mu.RUnlock()
	return Stats{
		Published:    h.published.Load(),
		Received:     h.received.Load(),
		Delivered:    h.delivered.Load(),
		Dropped:      h.dropped.Load(),
		SlowClosed:   h.slowClosed.Load(),
		BrokerErrors: h.brokerErrors.Load(),
		Members:      members,
		Rooms:        rooms,
	}
}

// Close closes every member, waits for the writes in progress to end
// (each within WriteTimeout) and closes the broker. The connections stay
// open and belong to their callers. Publishing afterwards returns
// ErrClosed.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.closed = true
	members := make([]*Member, 0, len(h.members))
	for m := range h.members {
		members = append(members, m)
	}
	rooms := h.rooms
	h.members = map[*Member]struct{}{}
	h.rooms = map[string]*room{}
	for _, r := range rooms {
		for _, m := range r.members {
			clear(m.rooms)
		}
		r.members = nil
	}
	h.mu.Unlock()

	for _, m := range members {
		m.stop(ErrClosed)
	}
	for _, r := range rooms {
		if unsub := r.remove(); unsub != nil {
			unsub()
		}
	}
	h.writers.Wait()
	return h.broker.Close()
}

// join adds m to the room name; see Member.Join.
func (h *Hub) join(ctx context.Context, m *Member, name string) error {
	if err := checkRoom(name); err != nil {
		return err
	}
	h.mu.Lock()
	if h.closed || m.rooms == nil || !m.open() {
		h.mu.Unlock()
		return ErrClosed
	}
	if _, ok := m.rooms[name]; ok {
		h.mu.Unlock()
		return nil
	}
	if len(m.rooms) >= h.maxRooms {
		h.mu.Unlock()
		return fmt.Errorf("%w: the limit is %d", ErrTooManyRooms, h.maxRooms)
	}
	r := h.rooms[name]
	created := r == nil
	if created {
		r = &room{name: name, ready: make(chan struct{})}
		h.rooms[name] = r
	}
	m.rooms[name] = len(r.members)
	r.members = append(r.members, m)
	h.mu.Unlock()

	if created {
		unsub, err := h.broker.Subscribe(ctx, name, roomHandler{h, r})
		if err == nil && !r.setUnsub(unsub) {
			// Everyone left meanwhile.
			h.unsubscribe(unsub)
		}
		r.subErr = err
		close(r.ready)
	} else {
		select {
		case <-r.ready:
		case <-ctx.Done():
			h.leaveRoom(m, r)
			return ctx.Err()
		}
	}
	if r.subErr != nil {
		h.brokerErrors.Add(1)
		h.leaveRoom(m, r)
		return fmt.Errorf("hub: subscribe to room: %w", r.subErr)
	}
	h.changed(ctx, name)
	return nil
}

// leave takes m out of the room name; see Member.Leave.
func (h *Hub) leave(ctx context.Context, m *Member, name string) error {
	h.mu.Lock()
	if m.rooms == nil {
		h.mu.Unlock()
		return ErrClosed
	}
	_, ok := m.rooms[name]
	r := h.rooms[name]
	h.mu.Unlock()
	if !ok || r == nil {
		return nil
	}
	if h.leaveRoom(m, r) {
		h.changed(ctx, name)
	}
	return nil
}

// leaveRoom takes m out of r, unsubscribing when r is left empty. It
// reports whether m was in r.
func (h *Hub) leaveRoom(m *Member, r *room) bool {
	h.mu.Lock()
	empty, ok := h.removeLocked(m, r)
	h.mu.Unlock()
	if empty {
		if unsub := r.remove(); unsub != nil {
			h.unsubscribe(unsub)
		}
	}
	return ok
}

// removeLocked takes m out of r's members, and r out of the hub once it
// is empty; h.mu is held. It reports whether r is now empty and whether
// m was in it.
func (h *Hub) removeLocked(m *Member, r *room) (empty, ok bool) {
	i, ok := m.rooms[r.name]
	if !ok || i >= len(r.members) || r.members[i] != m {
		return false, false
	}
	delete(m.rooms, r.name)
	last := len(r.members) - 1
	if i != last {
		moved := r.members[last]
		r.members[i] = moved
		moved.rooms[r.name] = i
	}
	r.members[last] = nil
	r.members = r.members[:last]
	if last > 0 {
		return false, true
	}
	if h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
	return true, true
}

// removeMember takes a closed member out of the hub and of every room.
func (h *Hub) removeMember(m *Member) {
	h.mu.Lock()
	delete(h.members, m)
	var left []string
	var emptied []*room
	for name := range m.rooms {
		r := h.rooms[name]
		if r == nil {
			continue
		}
		if empty, ok := h.removeLocked(m, r); ok {
			left = append(left, name)
			if empty {
				emptied = append(emptied, r)
			}
		}
	}
	m.rooms = nil
	h.mu.Unlock()
	for _, r := range emptied {
		if unsub := r.remove(); unsub != nil {
			h.unsubscribe(unsub)
		}
	}
	for _, name := range left {
		h.changed(context.Background(), name)
	}
}

// changed reports a change of room's members here and to other nodes.
func (h *Hub) changed(ctx context.Context, room string) {
	if err := h.broker.MembersChanged(ctx, room); err != nil {
		h.brokerErrors.Add(1)
		h.reportError(fmt.Errorf("hub: tell other nodes about room %q: %w", room, err))
	}
	if h.onPresenceChange != nil {
		h.onPresenceChange(room)
	}
}

func (h *Hub) unsubscribe(unsub func() error) {
	if err := unsub(); err != nil {
		h.brokerErrors.Add(1)
		h.reportError(fmt.Errorf("hub: unsubscribe: %w", err))
	}
}

func (h *Hub) reportError(err error) {
	if h.onError != nil {
		h.onError(err)
	}
}

// setUnsub records the broker subscription of r; it reports false if r
// has lost its members meanwhile, when the caller must unsubscribe.
func (r *room) setUnsub(unsub func() error) bool {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.removed {
		return false
	}
	r.unsub = unsub
	return true
}

// remove marks r as left by its last member and returns its subscription
// to end, if it has one yet.
func (r *room) remove() func() error {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.removed = true
	unsub := r.unsub
	r.unsub = nil
	return unsub
}

// roomHandler is the hub's side of a broker subscription to one room.
type roomHandler struct {
	h *Hub
	r *room
}

func (rh roomHandler) Deliver(msg Message) {
	pm, err := wsx.NewPreparedMessage(msg.Type, msg.Data)
	if err != nil {
		return
	}
	h := rh.h
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return
	}
	h.received.Add(1)
	h.deliverLocked(rh.r, pm)
}

func (rh roomHandler) Members() int {
	rh.h.mu.RLock()
	defer rh.h.mu.RUnlock()
	return len(rh.r.members)
}

func (rh roomHandler) MembersChanged() {
	if rh.h.onPresenceChange != nil {
		rh.h.onPresenceChange(rh.r.name)
	}
}
