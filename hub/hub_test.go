package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// TestRooms checks that a message reaches the members of its room, each
// once and in order, and nobody else, and that a member that left stops
// receiving.
func TestRooms(t *testing.T) {
	for _, compression := range []wsx.CompressionMode{wsx.CompressionDisabled, wsx.CompressionNoContextTakeover, wsx.CompressionContextTakeover} {
		t.Run(compression.String(), func(t *testing.T) {
			n := newTestNode(t, nil, &wsx.AcceptOptions{CompressionMode: compression, CompressionThreshold: -1})
			a, b, c := n.dial(t), n.dial(t), n.dial(t)
			a.join(t, "r")
			b.join(t, "r", "s")
			c.join(t, "s")

			var want []string
			for i := range 100 {
				msg := fmt.Sprintf("r %d %s", i, strings.Repeat("x", i*10))
				publish(t, n.hub, "r", msg)
				want = append(want, msg)
			}
			publish(t, n.hub, "s", "s 1")
			a.expect(t, want...)
			b.expect(t, append(want, "s 1")...)
			c.expect(t, "s 1")

			// b leaves r: what is published to r afterwards does not
			// reach it. A message sent to b alone afterwards comes
			// first, so nothing of r's was on its way.
			if err := b.m.Leave(context.Background(), "r"); err != nil {
				t.Fatal(err)
			}
			publish(t, n.hub, "r", "after leave")
			if err := b.m.Send(wsx.MessageText, []byte("for b")); err != nil {
				t.Fatal(err)
			}
			publish(t, n.hub, "s", "s 2")
			a.expect(t, "after leave")
			b.expect(t, "for b", "s 2")
			c.expect(t, "s 2")

			// Leaving twice, or a room one is not in, does nothing.
			if err := b.m.Leave(context.Background(), "r"); err != nil {
				t.Fatal(err)
			}
			if st := n.hub.Stats(); st.Rooms != 2 || st.Members != 3 {
				t.Errorf("stats: %d rooms, %d members; want 2 and 3", st.Rooms, st.Members)
			}
		})
	}
}

// TestPublishersOrder publishes from several goroutines at once: every
// member gets every message once, each publisher's in order, and all
// members get them in the same order.
func TestPublishersOrder(t *testing.T) {
	const members, publishers, each = 8, 4, 200
	n := newTestNode(t, &Options{QueueSize: publishers * each}, nil)
	var cls []*testClient
	for range members {
		cl := n.dial(t)
		cl.join(t, "room")
		cls = append(cls, cl)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				publish(t, n.hub, "room", fmt.Sprintf("%d %d", p, i))
			}
		})
	}
	wg.Wait()
	var first []string
	for k, cl := range cls {
		next := make([]int, publishers)
		var got []string
		for range publishers * each {
			msg := cl.next(t)
			got = append(got, msg)
			var p, i int
			fmt.Sscanf(msg, "%d %d", &p, &i)
			if i != next[p] {
				t.Fatalf("member %d: publisher %d's message %d came when %d was due", k, p, i, next[p])
			}
			next[p]++
		}
		if k == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Errorf("member %d received the messages in another order than member 0", k)
		}
	}
	waitFor(t, "writes to be counted", func() bool { return n.hub.Stats().Delivered == members*publishers*each })
	bytes := 0
	for _, msg := range first {
		bytes += len(msg)
	}
	for k, cl := range cls {
		if n, b := cl.m.Written(); n != publishers*each || b != int64(bytes) {
			t.Errorf("member %d: Written() = %d, %d; want %d, %d", k, n, b, publishers*each, bytes)
		}
	}
	if st := n.hub.Stats(); st.Published != publishers*each || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCloseSlow checks that a member that reads nothing is closed with
// 1013 once its queue overflows, while the others get every message
// without waiting for it.
func TestCloseSlow(t *testing.T) {
	n := newTestNode(t, &Options{QueueSize: 8}, nil)
	fast := []*testClient{n.dial(t), n.dial(t), n.dial(t)}
	slow := n.dialOpts(t, &wsx.DialOptions{NetDialContext: smallReceiveBuffer})
	for _, cl := range append(fast, slow) {
		cl.join(t, "room")
	}
	payload := strings.Repeat("p", 64<<10)
	const count = 200 // 12.5 MiB: far more than socket buffers hold
	// Each message reaches the fast members at once, before the next
	// is published, while the slow one's writes are stuck.
	var slowest time.Duration
	for i := range count {
		start := time.Now()
		publish(t, n.hub, "room", fmt.Sprint(i, payload))
		for _, cl := range fast {
			if got := cl.next(t); got != fmt.Sprint(i, payload) {
				t.Fatalf("fast member: message %d is %q", i, preview(got))
			}
		}
		slowest = max(slowest, time.Since(start))
	}
	// Far below the slow member's write timeout (10s).
	if slowest > 2*time.Second {
		t.Errorf("a message took %v to reach the fast members", slowest)
	}
	select {
	case <-slow.m.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the slow member was not closed")
	}
	if err := slow.m.Err(); !errors.Is(err, ErrQueueFull) {
		t.Errorf("slow member's error %v, want ErrQueueFull", err)
	}
	for _, cl := range fast {
		if err := cl.m.Err(); err != nil {
			t.Errorf("fast member closed: %v", err)
		}
	}

	// Reading now, the slow client gets the start of the stream in order,
	// then close 1013.
	slow.read()
	i := 0
	for {
		select {
		case msg := <-slow.msgs:
			if msg != fmt.Sprint(i, payload) {
				t.Fatalf("slow member: message %d is %q", i, preview(msg))
			}
			i++
			continue
		case err := <-slow.end:
			if wsx.CloseStatus(err) != wsx.StatusTryAgainLater {
				t.Fatalf("slow client read %v after %d messages, want close 1013", err, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("slow client: nothing within 10s")
		}
		break
	}
	if i == 0 || i >= count {
		t.Errorf("slow client got %d messages of %d", i, count)
	}
	if st := n.hub.Stats(); st.SlowClosed != 1 || st.Members != 3 {
		t.Errorf("stats after close: %+v", st)
	}
	// The others go on.
	publish(t, n.hub, "room", "more")
	for _, cl := range fast {
		cl.expect(t, "more")
	}
}

// TestDropOldest checks that a member that does not keep up misses the
// oldest messages, keeps the newest and its connection, and never queues
// more than QueueSize messages.
func TestDropOldest(t *testing.T) {
	const queue = 4
	n := newTestNode(t, &Options{QueueSize: queue, Overflow: DropOldest}, nil)
	slow := n.dialOpts(t, &wsx.DialOptions{NetDialContext: smallReceiveBuffer})
	fast := n.dial(t)
	slow.join(t, "room")
	fast.join(t, "room")
	payload := strings.Repeat("d", 16<<10)
	const count = 500
	for i := range count {
		publish(t, n.hub, "room", fmt.Sprint(i, " ", payload))
		if got := fast.next(t); got != fmt.Sprint(i, " ", payload) {
			t.Fatalf("fast member: message %d is %q", i, preview(got))
		}
		slow.m.mu.Lock()
		q, size := slow.m.queue.n, len(slow.m.queue.buf)
		slow.m.mu.Unlock()
		if q > queue || size > queue {
			t.Fatalf("after %d messages: %d queued in storage for %d, limit %d", i+1, q, size, queue)
		}
	}
	// The slow member now reads: increasing numbers with gaps, ending
	// with the last message.
	slow.read()
	last := -1
	got := 0
	for last != count-1 {
		msg := slow.next(t)
		i, err := strconv.Atoi(strings.Fields(msg)[0])
		if err != nil || i <= last {
			t.Fatalf("slow member got message %q after %d", preview(msg), last)
		}
		last = i
		got++
	}
	st := n.hub.Stats()
	if st.Dropped == 0 || int(st.Dropped)+got != count {
		t.Errorf("slow member got %d messages, %d dropped; want %d in all", got, st.Dropped, count)
	}
	if err := slow.m.Err(); err != nil {
		t.Errorf("slow member closed: %v", err)
	}
}

// TestWriteTimeout checks that a write that takes longer than WriteTimeout
// closes that member only.
func TestWriteTimeout(t *testing.T) {
	n := newTestNode(t, &Options{WriteTimeout: 200 * time.Millisecond}, nil)
	slow := n.dialOpts(t, &wsx.DialOptions{NetDialContext: smallReceiveBuffer})
	fast := n.dial(t)
	slow.join(t, "room")
	fast.join(t, "room")
	payload := strings.Repeat("w", 64<<10)
	// The slow member's socket buffers fill, and a write blocks.
	for i := 0; ; i++ {
		publish(t, n.hub, "room", payload)
		if got := fast.next(t); got != payload {
			t.Fatalf("fast member got %q", preview(got))
		}
		if slow.m.Err() != nil {
			break
		}
		if i == 1000 {
			t.Fatal("the slow member was not closed after 1000 messages")
		}
		time.Sleep(time.Millisecond)
	}
	if err := slow.m.Err(); !errors.Is(err, ErrWriteTimeout) {
		t.Errorf("slow member's error %v, want ErrWriteTimeout", err)
	}
	slow.read()
	select {
	case <-slow.end:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow client's connection stayed open")
	}
	if st := n.hub.Stats(); st.SlowClosed != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// TestPresenceLocal counts members on one node.
func TestPresenceLocal(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	n := newTestNode(t, &Options{OnPresenceChange: func(room string) {
		mu.Lock()
		changes = append(changes, room)
		mu.Unlock()
	}}, nil)
	a, b := n.dial(t), n.dial(t)
	a.join(t, "x", "y")
	b.join(t, "x")
	for _, tt := range []struct {
		room         string
		local, total int
	}{{"x", 2, 2}, {"y", 1, 1}, {"z", 0, 0}} {
		local, total, err := n.hub.Presence(context.Background(), tt.room)
		if err != nil || local != tt.local || total != tt.total {
			t.Errorf("Presence(%q) = %d, %d, %v; want %d, %d", tt.room, local, total, err, tt.local, tt.total)
		}
	}
	a.c.Close(wsx.StatusNormalClosure, "")
	waitFor(t, "a's member to close", func() bool { return a.m.Err() != nil })
	if local, _, _ := n.hub.Presence(context.Background(), "x"); local != 1 {
		t.Errorf("after a closed, x has %d members", local)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(changes)
	if want := []string{"x", "x", "x", "y", "y"}; !slices.Equal(changes, want) {
		t.Errorf("presence changes %q, want %q", changes, want)
	}
}

func TestLimits(t *testing.T) {
	n := newTestNode(t, &Options{MaxRooms: 3}, nil)
	a := n.dial(t)
	ctx := context.Background()
	for _, tt := range []struct {
		room string
		err  error
	}{
		{"", ErrInvalidRoom},
		{strings.Repeat("r", MaxRoomLength+1), ErrInvalidRoom},
		{strings.Repeat("r", MaxRoomLength), nil},
		{"a.b *>", nil},
		{"third", nil},
		{"fourth", ErrTooManyRooms},
		{"third", nil}, // already in it
	} {
		if err := a.m.Join(ctx, tt.room); !errors.Is(err, tt.err) {
			t.Errorf("Join(%q) = %v, want %v", preview(tt.room), err, tt.err)
		}
	}
	if err := n.hub.Publish(ctx, "", wsx.MessageText, nil); !errors.Is(err, ErrInvalidRoom) {
		t.Errorf("Publish to \"\" = %v", err)
	}
	if err := n.hub.Publish(ctx, "x", wsx.MessageType(9), nil); err == nil {
		t.Error("Publish of message type 9 succeeded")
	}
}

// TestClose checks that closing a member or the hub stops delivery,
// leaves the connections to their owners and leaves no goroutine behind
// (the leak check after the tests).
func TestClose(t *testing.T) {
	n := newTestNode(t, nil, nil)
	a, b := n.dial(t), n.dial(t)
	a.join(t, "room")
	b.join(t, "room")
	a.m.Close()
	a.m.Close()
	<-a.m.Done()
	if err := a.m.Join(context.Background(), "room"); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close = %v", err)
	}
	if err := a.m.Send(wsx.MessageText, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
	publish(t, n.hub, "room", "one")
	b.expect(t, "one")
	// a's connection is still open: the server still reads it.
	if err := a.c.Write(context.Background(), wsx.MessageText, []byte("still here")); err != nil {
		t.Errorf("a's connection: %v", err)
	}

	if err := n.hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.hub.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	<-b.m.Done()
	if err := n.hub.Publish(context.Background(), "room", wsx.MessageText, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v", err)
	}
	if _, _, err := n.hub.Presence(context.Background(), "room"); !errors.Is(err, ErrClosed) {
		t.Errorf("Presence after Close = %v", err)
	}
	late := n.hub.Add(b.c)
	select {
	case <-late.Done():
	default:
		t.Error("Add on a closed hub returned an open member")
	}
	// The connection is still open: the client's read loop gets the
	// pong.
	if err := b.c.Ping(context.Background()); err != nil {
		t.Errorf("b's connection after Hub.Close: %v", err)
	}
}

// recordingBroker is a Broker that records subscriptions.
type recordingBroker struct {
	MemoryBroker
	mu     sync.Mutex
	events []string
	subs   map[string]RoomHandler
}

func (b *recordingBroker) Subscribe(ctx context.Context, room string, h RoomHandler) (func() error, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, "sub "+room)
	if b.subs == nil {
		b.subs = map[string]RoomHandler{}
	}
	b.subs[room] = h
	return func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.events = append(b.events, "unsub "+room)
		delete(b.subs, room)
		return nil
	}, nil
}

func (b *recordingBroker) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := b.events
	b.events = nil
	return ev
}

// TestSubscriptionCount checks that a node subscribes to a room with its
// first member and unsubscribes with its last.
func TestSubscriptionCount(t *testing.T) {
	b := &recordingBroker{}
	n := newTestNode(t, &Options{Broker: b}, nil)
	x, y := n.dial(t), n.dial(t)
	ctx := context.Background()
	steps := []struct {
		do   func()
		want []string
	}{
		{func() { x.join(t, "r") }, []string{"sub r"}},
		{func() { y.join(t, "r") }, nil},
		{func() { x.m.Leave(ctx, "r") }, nil},
		{func() { y.m.Leave(ctx, "r") }, []string{"unsub r"}},
		{func() { x.join(t, "r", "s") }, []string{"sub r", "sub s"}},
		{func() { x.m.Close() }, []string{"unsub r", "unsub s"}},
	}
	for i, s := range steps {
		s.do()
		got := b.take()
		slices.Sort(got)
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d: broker saw %q, want %q", i, got, s.want)
		}
	}
	// What the broker delivers reaches the room's members; Members
	// counts them.
	y.join(t, "t")
	b.mu.Lock()
	h := b.subs["t"]
	b.mu.Unlock()
	h.Deliver(Message{Type: wsx.MessageBinary, Data: []byte("from elsewhere")})
	y.expect(t, "from elsewhere")
	if got := h.Members(); got != 1 {
		t.Errorf("Members() = %d", got)
	}
	if st := n.hub.Stats(); st.Received != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// TestCloseConn checks that CloseConn writes what is queued, then closes
// the connection with the code given, and takes the member out at once.
func TestCloseConn(t *testing.T) {
	n := newTestNode(t, nil, nil)
	a, b := n.dial(t), n.dial(t)
	a.join(t, "room")
	b.join(t, "room")
	for i := range 50 {
		publish(t, n.hub, "room", fmt.Sprint(i, strings.Repeat(".", 10000)))
	}
	a.m.CloseConn(4000, "bye")
	<-a.m.Done()
	publish(t, n.hub, "room", "after")
	if err := a.m.Send(wsx.MessageText, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after CloseConn = %v", err)
	}
	for i := range 50 {
		want := fmt.Sprint(i, strings.Repeat(".", 10000))
		a.expect(t, want)
		b.expect(t, want)
	}
	b.expect(t, "after")
	select {
	case err := <-a.end:
		var ce wsx.CloseError
		if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
			t.Errorf("a's connection ended with %v, want close 4000 bye", err)
		}
	case msg := <-a.msgs:
		t.Errorf("a got %q after CloseConn", preview(msg))
	case <-time.After(10 * time.Second):
		t.Error("a's connection was not closed")
	}
}
