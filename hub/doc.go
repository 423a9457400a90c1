// Package hub sends messages to rooms of WebSocket connections: a
// connection joins and leaves rooms, and a message published to a room
// reaches every member, on this node and, through a Broker, on every other
// node of the application. It is built on the public API of
// github.com/wsx-go/wsx.
//
//	h := hub.New(nil) // one node; hub.NewNATSBroker for several
//	defer h.Close()
//
//	http.HandleFunc("/feed", func(w http.ResponseWriter, r *http.Request) {
//		c, err := wsx.Accept(w, r, nil)
//		if err != nil {
//			return
//		}
//		defer c.CloseNow()
//		m := h.Add(c)
//		defer m.Close()
//		if err := m.Join(r.Context(), "prices"); err != nil {
//			return
//		}
//		for { // the read loop answers pings and sees the close
//			if _, _, err := c.Read(context.Background()); err != nil {
//				return
//			}
//		}
//	})
//
//	h.Publish(ctx, "prices", wsx.MessageText, []byte(`{"EURUSD":1.0842}`))
//
// Each member has a queue, and a goroutine that writes the queue to the
// connection while it holds messages (an idle member has none). Publish
// only queues: it never waits for a member's connection. A published
// message is framed, and compressed when the connection agreed to
// permessage-deflate, once for all members whose connections can share
// the result (see wsx.PreparedMessage): with CompressionNoContextTakeover
// on the server, one compressed frame serves every member.
//
// # Nodes and brokers
//
// Several processes (nodes) serve the same rooms when each runs a Hub
// whose Broker reaches the others: NewNATSBroker connects them through a
// NATS server or cluster. A node subscribes to a room when its first
// member of the room joins and unsubscribes when the last one leaves, so
// NATS routes a room's messages only to the nodes with members in it. A
// node delivers its own publications to its members directly and ignores
// them when NATS hands them back. Without a Broker, a Hub serves one
// node (MemoryBroker).
//
// # Delivery guarantee
//
// Across nodes, delivery is at most once: a message is delivered to a
// member once or not at all, never twice, and nothing is retried or
// persisted. It is lost for the members of other nodes when NATS is down
// or the connection to it is being re-established, when a node joins a
// room while the message is in flight, or when NATS or a node drops it as
// a slow consumer. A member whose connection fails loses what was queued
// for it, and a message written to a connection just before it failed may
// not have reached the client (TCP gives no notice). Applications that
// need every message add sequence numbers and let clients fetch what they
// missed.
//
// Order: the messages one publisher (one goroutine calling Publish one
// message after the other) sends to a room reach every member in the order
// they were published, on every node. On one node, all members of a room
// receive the room's messages in the same order; members on different
// nodes may see the messages of different publishers interleaved
// differently. A member in several rooms gets each room's messages in
// that room's order, interleaved with the others' as they come. Messages
// sent with Member.Send join the same queue, in the order of the calls.
//
// A member that joins a room receives what is published after Join
// returns (with a NATS cluster of several servers, once the subscription
// has spread to all of them, which NATS does within moments); one that
// leaves receives nothing published after Leave returns (messages queued
// before, it still receives).
//
// # Slow members
//
// A member's queue holds up to Options.QueueSize messages (256 by
// default) besides the one being written; the connection's socket buffers
// come on top of that. When a message is due to a member whose queue is
// full, Options.Overflow decides: CloseSlow (the default) takes the member
// out of every room at once and closes its connection with status 1013
// (try again later) once the write in progress has ended; DropOldest
// drops the oldest queued message instead. Either way the publisher and
// the other members do not wait. A single write that takes longer than
// Options.WriteTimeout (10 seconds by default) closes the member and its
// connection at once. Stats counts what was dropped and how many members
// were closed. Member.CloseConn closes a member for a reason of the
// application's own, after writing what is queued for it.
//
// # When NATS is down
//
// The NATS broker refuses to publish while its connection is not
// established: Publish returns an error wrapping ErrUnavailable at once,
// after delivering to the members on this node, so local delivery goes on
// and publishers learn that other nodes did not get the message; such
// messages are not sent later. Presence returns the local count and the
// error. Subscriptions are kept by the NATS client, which subscribes again
// when it reconnects; from then on messages flow between the nodes again.
//
// # Limits
//
// Memory stays bounded whatever clients do: a room name has at most
// MaxRoomLength bytes, a member is in at most Options.MaxRooms rooms (16
// by default), and the hub keeps rooms only while they have members on
// this node, so the number of rooms is bounded by members × MaxRooms.
// Queues are bounded as above, and hold shared messages: a message is
// stored once however many members it waits for.
package hub
