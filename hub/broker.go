package hub

import (
	"context"

	"github.com/wsx-go/wsx"
)

// Message is a published message as it travels between nodes.
type Message struct {
	Type wsx.MessageType // wsx.MessageText or wsx.MessageBinary
	Data []byte          // the payload; it must not be modified once published
}

// A Broker carries messages between the nodes that run a Hub for the same
// application: each Hub owns one Broker, and the Brokers of all nodes
// share some messaging system. The Hub delivers to the members on its own
// node itself; the Broker only has to reach the other nodes.
//
// Subscriptions are per node and per room: the Hub subscribes to a room
// when its first local member joins and unsubscribes when the last one
// leaves, so a node hears only about the rooms it has members in.
//
// The methods may be called from several goroutines at once.
type Broker interface {
	// Subscribe starts handing h what other nodes send to room (their
	// messages, presence queries and membership changes) until the
	// returned function is called. It returns once the subscription
	// is in effect, so that what other nodes publish afterwards reaches
	// h, or once ctx ends or the broker is unreachable, in which case
	// the subscription takes effect as soon as it can. Messages from
	// one publisher must reach h in the order they were published.
	Subscribe(ctx context.Context, room string, h RoomHandler) (unsubscribe func() error, err error)

	// Publish sends m to the members of room on the other nodes; it
	// must not hand it back to this node. An error means the message
	// may not have reached the other nodes; it wraps ErrUnavailable
	// when the broker cannot be reached.
	Publish(ctx context.Context, room string, m Message) error

	// MembersChanged tells the other nodes subscribed to room that its
	// members on this node changed (see RoomHandler.MembersChanged).
	MembersChanged(ctx context.Context, room string) error

	// Presence returns the number of members of room on the other
	// nodes, as they answer within a time the implementation documents.
	Presence(ctx context.Context, room string) (int, error)

	// Close ends every subscription and releases the broker's
	// resources. The Hub calls it from Hub.Close.
	Close() error
}

// A RoomHandler is a node's side of a room subscription: what a Broker
// calls with what arrives for the room. The Hub implements it. Its
// methods return quickly and may be called from several goroutines, but
// Deliver is called for one publisher's messages in their order.
type RoomHandler interface {
	// Deliver hands a message published on another node to this
	// node's members of the room.
	Deliver(m Message)

	// Members returns the number of members of the room on this node,
	// for another node's Presence.
	Members() int

	// MembersChanged reports that the members of the room changed on
	// another node.
	MembersChanged()
}
