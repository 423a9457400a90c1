package hub

import "context"

// MemoryBroker is the Broker of a Hub that runs on one node only: there are
// no other nodes to reach, so publishing to them succeeds at once and
// presence elsewhere is zero. It is the Broker a Hub uses when
// Options.Broker is nil.
type MemoryBroker struct{}

// NewMemoryBroker returns a broker for a single node.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// Subscribe does nothing: no other node publishes.
func (*MemoryBroker) Subscribe(ctx context.Context, room string, h RoomHandler) (func() error, error) {
	return func() error { return nil }, nil
}

// Publish does nothing: the Hub has delivered to its own members already.
func (*MemoryBroker) Publish(ctx context.Context, room string, m Message) error { return nil }

// MembersChanged does nothing.
func (*MemoryBroker) MembersChanged(ctx context.Context, room string) error { return nil }

// Presence returns 0: no room has members on other nodes.
func (*MemoryBroker) Presence(ctx context.Context, room string) (int, error) { return 0, nil }

// Close does nothing.
func (*MemoryBroker) Close() error { return nil }
