package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsx-go/wsx"
)

// startNATS runs a NATS server in the test's process on 127.0.0.1, on
// port (-1: a free one). It is shut down when the test ends.
func startNATS(t testing.TB, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// natsNode is a testNode whose hub has a NATS broker, and its connection.
type natsNode struct {
	*testNode
	nc     *nats.Conn
	broker *NATSBroker
}

// newNATSNode connects a node to the NATS server at url.
func newNATSNode(t testing.TB, url string, opts *Options) *natsNode {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the hub (and broker) close before nc.
	t.Cleanup(nc.Close)
	b, err := NewNATSBroker(nc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Broker = b
	return &natsNode{testNode: newTestNode(t, &o, nil), nc: nc, broker: b}
}

// cluster starts a NATS server and nodes connected to it.
func cluster(t testing.TB, nodes int, opts *Options) (*server.Server, []*natsNode) {
	t.Helper()
	s := startNATS(t, -1)
	var ns []*natsNode
	for range nodes {
		ns = append(ns, newNATSNode(t, s.ClientURL(), opts))
	}
	return s, ns
}

// checkStreams checks that each client received count messages from each
// of publishers, each once and in order, formatted "p i".
func checkStreams(t *testing.T, cls []*testClient, publishers, count int) {
	t.Helper()
	for k, cl := range cls {
		next := make([]int, publishers)
		for range publishers * count {
			msg := cl.next(t)
			var p, i int
			if _, err := fmt.Sscanf(msg, "%d %d", &p, &i); err != nil || p >= publishers {
				t.Fatalf("client %d: unexpected message %q", k, msg)
			}
			if i != next[p] {
				t.Fatalf("client %d: publisher %d's message %d came when %d was due", k, p, i, next[p])
			}
			next[p]++
		}
	}
}

// expectNothing checks that no client receives a message before each gets
// a final message sent to it alone.
func expectNothing(t *testing.T, cls []*testClient) {
	t.Helper()
	for _, cl := range cls {
		if err := cl.m.Send(wsx.MessageText, []byte("end")); err != nil {
			t.Fatal(err)
		}
		cl.expect(t, "end")
	}
}

// TestNATSNodes publishes from both of two nodes at once: every member on
// either node gets every message exactly once, in each publisher's order,
// and a node does not get its own messages back.
func TestNATSNodes(t *testing.T) {
	_, nodes := cluster(t, 2, &Options{QueueSize: 1000})
	var cls []*testClient
	for _, n := range nodes {
		for range 3 {
			cl := n.dial(t)
			cl.join(t, "lobby")
			cls = append(cls, cl)
		}
	}
	const each = 300
	var wg sync.WaitGroup
	for p, n := range nodes {
		wg.Go(func() {
			for i := range each {
				publish(t, n.hub, "lobby", fmt.Sprint(p, " ", i))
			}
		})
	}
	wg.Wait()
	checkStreams(t, cls, len(nodes), each)
	expectNothing(t, cls)
	for i, n := range nodes {
		// Delivered counts a write once it has returned.
		waitFor(t, "writes to be counted", func() bool { return n.hub.Stats().Delivered == 3*2*each+3 })
		if st := n.hub.Stats(); st.Published != each || st.Received != each {
			t.Errorf("node %d stats: %+v", i, st)
		}
	}
}

// TestNATSLeave checks that a node stops receiving a room once its last
// member left, and that members elsewhere go on.
func TestNATSLeave(t *testing.T) {
	_, nodes := cluster(t, 2, nil)
	a, b := nodes[0].dial(t), nodes[1].dial(t)
	a.join(t, "r")
	b.join(t, "r")
	publish(t, nodes[0].hub, "r", "0 0")
	b.expect(t, "0 0")
	if err := b.m.Leave(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	before := nodes[1].hub.Stats().Received
	publish(t, nodes[0].hub, "r", "0 1")
	a.expect(t, "0 0", "0 1")
	// A round trip through NATS from node 0 to node 1 and back shows
	// that node 1 had its chance to receive "0 1".
	b.join(t, "other")
	a.join(t, "other")
	publish(t, nodes[1].hub, "other", "back")
	a.expect(t, "back")
	b.expect(t, "back")
	expectNothing(t, []*testClient{b})
	if got := nodes[1].hub.Stats().Received; got != before {
		t.Errorf("node 1 received %d messages for a room it left", got-before)
	}
	if n := nodes[1].nc.NumSubscriptions(); n != 1 {
		t.Errorf("node 1 has %d NATS subscriptions, want 1 (room other)", n)
	}
}

// TestNATSPresence counts members across three nodes, and checks that a
// change on one node is reported on the others.
func TestNATSPresence(t *testing.T) {
	changes := make(chan string, 100)
	_, nodes := cluster(t, 3, &Options{OnPresenceChange: func(room string) { changes <- room }})
	counts := []int{2, 3, 0}
	var cls [][]*testClient
	for i, n := range nodes {
		var these []*testClient
		for range counts[i] {
			cl := n.dial(t)
			cl.join(t, "room")
			these = append(these, cl)
		}
		cls = append(cls, these)
	}
	for i, n := range nodes {
		local, total, err := n.hub.Presence(context.Background(), "room")
		if err != nil || local != counts[i] || total != 5 {
			t.Errorf("node %d: Presence = %d, %d, %v; want %d, 5", i, local, total, err, counts[i])
		}
	}
	// Node 1 hears of node 0's member leaving.
	for len(changes) > 0 {
		<-changes
	}
	cls[0][0].m.Close()
	deadline := time.After(5 * time.Second)
	for heard := 0; heard < 2; { // node 0's own, node 1's from NATS
		select {
		case room := <-changes:
			if room == "room" {
				heard++
			}
		case <-deadline:
			t.Fatal("presence change not reported on both nodes")
		}
	}
	if _, total, _ := nodes[2].hub.Presence(context.Background(), "room"); total != 4 {
		t.Errorf("after a member left, node 2 counts %d", total)
	}
}

// TestNATSOutage stops NATS under two nodes: publishing fails with
// ErrUnavailable while local delivery goes on; once NATS is back on the
// same port, the subscriptions are back and messages cross again.
func TestNATSOutage(t *testing.T) {
	s, nodes := cluster(t, 2, nil)
	port := s.Addr().(*net.TCPAddr).Port
	a, b := nodes[0].dial(t), nodes[1].dial(t)
	a.join(t, "r")
	b.join(t, "r")
	publish(t, nodes[0].hub, "r", "0 0")
	a.expect(t, "0 0")
	b.expect(t, "0 0")

	s.Shutdown()
	s.WaitForShutdown()
	for _, n := range nodes {
		waitFor(t, "nodes to notice", func() bool { return n.nc.Status() != nats.CONNECTED })
	}
	err := nodes[0].hub.Publish(context.Background(), "r", wsx.MessageText, []byte("during"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish while NATS is down = %v, want ErrUnavailable", err)
	}
	a.expect(t, "during")
	if _, _, err := nodes[0].hub.Presence(context.Background(), "r"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Presence while NATS is down = %v", err)
	}
	// A member joining meanwhile is in at once, locally.
	a2 := nodes[0].dial(t)
	a2.join(t, "r")

	startNATS(t, port)
	for _, n := range nodes {
		waitFor(t, "nodes to reconnect", func() bool { return n.nc.Status() == nats.CONNECTED })
	}
	// The client sends its subscriptions on reconnecting; once a probe
	// crosses, the server has them.
	for i := 0; ; i++ {
		publish(t, nodes[1].hub, "r", fmt.Sprint("probe ", i))
		b.expect(t, fmt.Sprint("probe ", i))
		select {
		case msg := <-a.msgs:
			if !strings.HasPrefix(msg, "probe") {
				t.Fatalf("after NATS came back, a received %q", msg)
			}
		case <-time.After(50 * time.Millisecond):
			if i == 100 {
				t.Fatal("no message crossed within 100 tries after NATS came back")
			}
			continue
		}
		break
	}
	// Drain a's and a2's probes, then check a whole exchange.
	for _, cl := range []*testClient{a, a2} {
		for len(cl.msgs) > 0 {
			<-cl.msgs
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, cl := range []*testClient{a, a2} {
		for len(cl.msgs) > 0 {
			if msg := <-cl.msgs; !strings.HasPrefix(msg, "probe") {
				t.Fatalf("received %q", msg)
			}
		}
	}
	const each = 50
	for i := range each {
		publish(t, nodes[0].hub, "r", fmt.Sprint("0 ", i))
		publish(t, nodes[1].hub, "r", fmt.Sprint("1 ", i))
	}
	checkStreams(t, []*testClient{a, a2, b}, 2, each)
	// b never got "during".
	expectNothing(t, []*testClient{a, a2, b})
}

// TestNATSSubjects checks room names that are not plain subject tokens,
// the subject prefix, and messages published to a room by a plain NATS
// client.
func TestNATSSubjects(t *testing.T) {
	s := startNATS(t, -1)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, err := NewNATSBroker(nc, &NATSOptions{SubjectPrefix: "app-1.chat", NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tt := range []struct{ room, subject string }{
		{"lobby", "app-1.chat.room.lobby"},
		{"a.b", "app-1.chat.room.a%2Eb"},
		{"*", "app-1.chat.room.%2A"},
		{">", "app-1.chat.room.%3E"},
		{"two words", "app-1.chat.room.two%20words"},
		{"100%", "app-1.chat.room.100%25"},
		{"é", "app-1.chat.room.%C3%A9"},
	} {
		if got := b.Subject(tt.room); got != tt.subject {
			t.Errorf("Subject(%q) = %q, want %q", tt.room, got, tt.subject)
		}
	}
	for _, prefix := range []string{"a b", "a..b", "a.*", ">", "."} {
		if _, err := NewNATSBroker(nc, &NATSOptions{SubjectPrefix: prefix}); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
	if _, err := NewNATSBroker(nc, &NATSOptions{NodeID: "has space"}); err == nil {
		t.Error("node ID with a space accepted")
	}

	// Rooms whose names would be wildcards get only their own messages.
	_, nodes := cluster(t, 2, nil)
	rooms := []string{"a.b", "a", "*", ">", "a b"}
	var cls []*testClient
	for _, room := range rooms {
		cl := nodes[1].dial(t)
		cl.join(t, room)
		cls = append(cls, cl)
	}
	for i, room := range rooms {
		publish(t, nodes[0].hub, room, fmt.Sprint("to ", i))
	}
	for i, cl := range cls {
		cl.expect(t, fmt.Sprint("to ", i))
	}
	expectNothing(t, cls)

	// A plain NATS client can publish into a room: text, or binary with
	// the header.
	plain, err := nats.Connect(nodes[0].nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Publish(nodes[0].broker.Subject("a.b"), []byte("from nats")); err != nil {
		t.Fatal(err)
	}
	cls[0].expect(t, "from nats")
	cl := nodes[1].dialOpts(t, nil)
	cl.join(t, "a.b")
	bin := &nats.Msg{Subject: nodes[0].broker.Subject("a.b"), Header: nats.Header{HeaderType: {"binary"}}, Data: []byte{0, 1}}
	if err := plain.PublishMsg(bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, p, err := cl.c.Read(ctx)
	if err != nil || typ != wsx.MessageBinary || !slices.Equal(p, []byte{0, 1}) {
		t.Errorf("binary message from NATS read as %v %q, %v", typ, p, err)
	}
	cls[0].expect(t, "\x00\x01")
}
