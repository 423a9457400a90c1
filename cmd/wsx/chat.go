package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/hub"
)

// Limits of the chat protocol at /chat.
const (
	chatMaxMessage  = 8 << 10 // bytes of one client message (JSON); more closes with 1009
	chatMaxRoom     = 64      // bytes of a room name
	chatMaxName     = 32      // characters of a name
	chatMaxText     = 2000    // characters of a chat message
	chatMaxRooms    = 8       // rooms one connection may be in
	chatMaxStrikes  = 10      // invalid messages before close 1008
	chatRate        = 50      // publishes a second, sustained, per connection
	chatBurst       = 100     // publishes at once, per connection
	chatQueue       = 256     // messages waiting for one connection
	chatJoinTimeout = 5 * time.Second

	// chatPresenceDelay gathers the membership changes of a room into
	// one presence message per node.
	chatPresenceDelay = 250 * time.Millisecond
)

// chatIn is a message from a chat client.
type chatIn struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// chatMessage is a chat message as members receive it.
type chatMessage struct {
	Type string `json:"type"` // "message"
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
	ID   uint64 `json:"id"`   // unique on its node
	Node string `json:"node"` // the node it was published on
	Time string `json:"time"` // RFC 3339, UTC, milliseconds
}

// chatPresence tells how many are in a room; Cluster is null when the
// other nodes could not be asked.
type chatPresence struct {
	Type    string `json:"type"` // "presence"
	Room    string `json:"room"`
	Local   int    `json:"local"`
	Cluster *int   `json:"cluster"`
}

// chatError answers a message that could not be carried out.
type chatError struct {
	Type  string `json:"type"` // "error"
	Error string `json:"error"`
	Room  string `json:"room,omitempty"`
}

// chatServer runs the chat at /chat: a hub whose rooms span every node
// that shares the broker.
type chatServer struct {
	hub      *hub.Hub
	nc       *nats.Conn // nil with --broker memory
	node     string
	log      *slog.Logger
	metrics  *metrics
	maxFrame int64
	seq      atomic.Uint64

	mu      sync.Mutex
	dirty   map[string]bool // rooms whose presence is due
	timer   *time.Timer
	closed  bool
	pending sync.WaitGroup // presence messages being sent
}

// newChatServer connects to the broker cfg names and starts the hub.
func newChatServer(cfg serveConfig, log *slog.Logger, m *metrics) (*chatServer, error) {
	var id [6]byte
	rand.Read(id[:])
	cs := &chatServer{
		node:     hex.EncodeToString(id[:]),
		log:      log,
		metrics:  m,
		maxFrame: chatMaxMessage,
		dirty:    map[string]bool{},
	}
	if cfg.maxMessageSize >= 0 && cfg.maxMessageSize < cs.maxFrame {
		cs.maxFrame = cfg.maxMessageSize
	}
	var broker hub.Broker
	if cfg.broker != "" && cfg.broker != "memory" {
		nc, err := nats.Connect(cfg.broker,
			nats.Name("wsx serve "+cs.node),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(500*time.Millisecond),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				log.Warn("NATS disconnected; chat messages stay on this node until it is back", "err", err)
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
			}),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				log.Warn("NATS error", "err", err)
			}),
		)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", redactBroker(cfg.broker), err)
		}
		b, err := hub.NewNATSBroker(nc, &hub.NATSOptions{NodeID: cs.node})
		if err != nil {
			nc.Close()
			return nil, err
		}
		cs.nc, broker = nc, b
		log.Info("chat broker connected", "nats", nc.ConnectedUrlRedacted(), "node", cs.node)
	}
	cs.hub = hub.New(&hub.Options{
		Broker:           broker,
		QueueSize:        chatQueue,
		MaxRooms:         chatMaxRooms,
		OnPresenceChange: cs.presenceChanged,
		OnError:          func(err error) { log.Warn("chat hub", "err", err) },
	})
	m.registerHub(cs.hub.Stats, cs.brokerConnected)
	return cs, nil
}

// redactBroker returns the --broker value with passwords hidden, for logs.
func redactBroker(s string) string {
	urls := strings.Split(s, ",")
	for i, v := range urls {
		if u, err := url.Parse(strings.TrimSpace(v)); err == nil {
			urls[i] = u.Redacted()
		}
	}
	return strings.Join(urls, ",")
}

// brokerConnected reports whether the other nodes can be reached.
func (cs *chatServer) brokerConnected() bool {
	return cs.nc == nil || cs.nc.Status() == nats.CONNECTED
}

// close stops the hub and disconnects from the broker. Connections have
// been closed by then.
func (cs *chatServer) close() {
	cs.mu.Lock()
	cs.closed = true
	if cs.timer != nil {
		cs.timer.Stop()
	}
	cs.mu.Unlock()
	cs.pending.Wait()
	cs.hub.Close()
	if cs.nc != nil {
		cs.nc.Close()
	}
}

// presenceChanged notes that a room's members changed, here or on
// another node; the room's members on this node get its presence a little
// later, once for all changes meanwhile.
func (cs *chatServer) presenceChanged(room string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed || cs.dirty[room] {
		return
	}
	cs.dirty[room] = true
	if cs.timer == nil {
		cs.timer = time.AfterFunc(chatPresenceDelay, cs.sendPresence)
	}
}

// sendPresence sends the presence of every room that changed to the
// room's members on this node.
func (cs *chatServer) sendPresence() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.timer = nil
	if cs.closed {
		return
	}
	for room := range cs.dirty {
		cs.pending.Add(1)
		go func() {
			defer cs.pending.Done()
			msg := cs.presence(room)
			cs.hub.PublishLocal(room, wsx.MessageText, msg)
		}()
	}
	cs.dirty = map[string]bool{}
}

// presence returns the presence message of a room.
func (cs *chatServer) presence(room string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	local, cluster, err := cs.hub.Presence(ctx, room)
	p := chatPresence{Type: "presence", Room: room, Local: local}
	if err == nil {
		p.Cluster = &cluster
	}
	b, _ := json.Marshal(p)
	return b
}

// chatSession is one chat connection.
type chatSession struct {
	cs      *chatServer
	m       *hub.Member
	c       *wsx.Conn
	names   map[string]string // room → name, for the rooms joined
	strikes int               // invalid messages so far
	tokens  float64           // publishes allowed now
	refill  time.Time
}

// serve runs the chat protocol on c until it ends.
func (cs *chatServer) serve(c *wsx.Conn, st *connStats) error {
	c.SetReadLimit(cs.maxFrame)
	s := &chatSession{cs: cs, m: cs.hub.Add(c), c: c, names: map[string]string{}, tokens: chatBurst, refill: time.Now()}
	defer func() {
		s.m.Close()
		st.msgsOut, st.bytesOut = s.m.Written()
	}()
	ctx := context.Background()
	var buf []byte
	closing := false
	for {
		// Once closing, the loop reads until the client answers the
		// close frame the member's writer sends after what is queued.
		typ, p, err := c.AppendMessage(ctx, buf[:0])
		if err != nil {
			return err
		}
		buf = p
		st.msgsIn++
		st.bytesIn += int64(len(p))
		cs.metrics.received(typ, int64(len(p)))
		switch {
		case closing:
		case typ == wsx.MessageBinary:
			s.m.CloseConn(wsx.StatusUnsupportedData, "the chat protocol is JSON text")
			closing = true
		case !s.handle(p):
			s.m.CloseConn(wsx.StatusPolicyViolation, "too many invalid messages")
			closing = true
		}
	}
}

// handle carries out one client message. It returns false once the
// client has sent too many invalid ones.
func (s *chatSession) handle(p []byte) bool {
	var in chatIn
	if err := json.Unmarshal(p, &in); err != nil {
		return s.strike("invalid JSON: want an object such as {\"type\":\"join\",\"room\":\"lobby\",\"name\":\"ann\"}", "")
	}
	switch in.Type {
	case "join":
		s.join(in)
	case "leave":
		if s.inRoom(in.Room) {
			s.m.Leave(context.Background(), in.Room)
			delete(s.names, in.Room)
			s.send(s.cs.presence(in.Room))
		}
	case "publish":
		s.publish(in)
	case "presence":
		if s.inRoom(in.Room) {
			s.send(s.cs.presence(in.Room))
		}
	default:
		return s.strike(fmt.Sprintf("unknown message type %q: want join, leave, publish or presence", in.Type), "")
	}
	return true
}

// strike counts an invalid message and answers it with an error, unless
// it was one too many: then the connection is to be closed.
func (s *chatSession) strike(msg, room string) bool {
	s.strikes++
	if s.strikes >= chatMaxStrikes {
		return false
	}
	s.fail(msg, room)
	return true
}

// fail sends an error message.
func (s *chatSession) fail(msg, room string) {
	b, _ := json.Marshal(chatError{Type: "error", Error: msg, Room: room})
	s.send(b)
}

// send queues a message for this client, after what is queued for it
// already.
func (s *chatSession) send(b []byte) {
	s.m.Send(wsx.MessageText, b)
}

// inRoom reports whether the client joined room, and tells it if not.
func (s *chatSession) inRoom(room string) bool {
	if _, ok := s.names[room]; ok {
		return true
	}
	s.fail("not in this room: join it first", room)
	return false
}

func (s *chatSession) join(in chatIn) {
	name := strings.TrimSpace(in.Name)
	if err := checkChatRoom(in.Room); err != nil {
		s.fail(err.Error(), in.Room)
		return
	}
	if n := utf8.RuneCountInString(name); n == 0 || n > chatMaxName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		s.fail(fmt.Sprintf("invalid name: 1 to %d characters, no control characters", chatMaxName), in.Room)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), chatJoinTimeout)
	defer cancel()
	if err := s.m.Join(ctx, in.Room); err != nil {
		msg := "could not join: " + err.Error()
		if errors.Is(err, hub.ErrTooManyRooms) {
			msg = fmt.Sprintf("too many rooms: at most %d at once", chatMaxRooms)
		}
		s.fail(msg, in.Room)
		return
	}
	s.names[in.Room] = name
	// The answer: the room's presence, once the join is in effect.
	s.send(s.cs.presence(in.Room))
}

func checkChatRoom(room string) error {
	if room == "" || len(room) > chatMaxRoom || strings.IndexFunc(room, unicode.IsControl) >= 0 {
		return fmt.Errorf("invalid room: 1 to %d bytes, no control characters", chatMaxRoom)
	}
	return nil
}

func (s *chatSession) publish(in chatIn) {
	if !s.inRoom(in.Room) {
		return
	}
	if n := utf8.RuneCountInString(in.Text); n == 0 || n > chatMaxText {
		s.fail(fmt.Sprintf("invalid text: 1 to %d characters", chatMaxText), in.Room)
		return
	}
	now := time.Now()
	s.tokens = min(chatBurst, s.tokens+now.Sub(s.refill).Seconds()*chatRate)
	s.refill = now
	if s.tokens < 1 {
		s.fail(fmt.Sprintf("too fast: at most %d messages a second", chatRate), in.Room)
		return
	}
	s.tokens--
	cs := s.cs
	b, _ := json.Marshal(chatMessage{
		Type: "message",
		Room: in.Room,
		From: s.names[in.Room],
		Text: in.Text,
		ID:   cs.seq.Add(1),
		Node: cs.node,
		Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	})
	if err := cs.hub.Publish(context.Background(), in.Room, wsx.MessageText, b); err != nil {
		msg := "not delivered: " + err.Error()
		if errors.Is(err, hub.ErrUnavailable) {
			msg = "delivered on this server only: the other servers cannot be reached"
		}
		s.fail(msg, in.Room)
	}
}
