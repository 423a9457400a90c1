//go:build linux

package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// TestHubCluster runs "wsx serve" nodes that share chat rooms through a
// NATS server, each a process of its own, with 1,000 chat clients spread
// over the nodes, and checks what the clients receive: every message
// exactly once and in each publisher's order, nothing after leaving, a
// client that never reads closed with 1013 without holding up the others,
// and, with NATS killed and restarted, errors for publishers while local
// delivery goes on, then delivery across the nodes again.
func TestHubCluster(t *testing.T) {
	bin := buildWSX(t)
	natsBin := buildNATSServer(t)
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprint(nodes, "-nodes"), func(t *testing.T) {
			testHubCluster(t, bin, natsBin, nodes)
		})
	}
}

// TestHubChatPage uses the chat page of two nodes in Chromium: a person
// on each joins the same room, sees the other counted and reads what the
// other types.
func TestHubChatPage(t *testing.T) {
	needChromium(t)
	bin := buildWSX(t)
	nats := startNATSServer(t, buildNATSServer(t), hubFreePort(t))
	// The page of node a may also connect to node b.
	a := startServe(t, bin, "--broker", nats.url())
	b := startServe(t, bin, "--broker", nats.url())

	p := newProcess("chat.mjs", nodeDir, "node", "chat.mjs", a.httpURL()+"chat", b.httpURL()+"chat?room=wsx")
	var stdout lockedBuffer
	p.cmd.Stdout = &stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start chat.mjs: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if !p.waitOrKill(2 * time.Minute) {
		t.Fatalf("chat.mjs still running after 2 minutes; killed\nstderr:\n%s", p.stderr.String())
	}
	var r struct {
		RoomFromURL   string   `json:"room_from_url"`
		PresenceA     string   `json:"presence_a"`
		PresenceB     string   `json:"presence_b"`
		StatusA       string   `json:"status_a"`
		LogA          []string `json:"log_a"`
		LogB          []string `json:"log_b"`
		FocusAfter    string   `json:"focus_after_join"`
		EnterCleared  bool     `json:"enter_cleared"`
		BoldElements  int      `json:"bold_elements"`
		NameError     string   `json:"name_error"`
		PhoneScroll   bool     `json:"phone_horizontal_scroll"`
		ConsoleErrors []string `json:"console_errors"`
		PageErrors    []string `json:"page_errors"`
		CSPViolations []string `json:"csp_violations"`
		Error         string   `json:"error"`
	}
	out := strings.TrimSpace(stdout.String())
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("chat.mjs (%v) printed %.500q, not a JSON report: %v\nstderr:\n%s", p.err, out, err, p.stderr.String())
	}
	if r.Error != "" {
		t.Fatalf("chat.mjs failed: %s\nstderr:\n%s", r.Error, p.stderr.String())
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"room taken from ?room=", r.RoomFromURL, "wsx"},
		{"presence on node a's page", r.PresenceA, "2 people · 1 on this server"},
		{"presence on node b's page", r.PresenceB, "2 people · 1 on this server"},
		{"status", r.StatusA, "connected"},
		{"focus after joining", r.FocusAfter, "text"},
		{"message field emptied by Enter", r.EnterCleared, true},
		{"error for a missing name", r.NameError, "Enter a name: up to 32 characters."},
		{"horizontal scroll on a phone", r.PhoneScroll, false},
		{"markup shown as text, not elements", r.BoldElements, 0},
		{"page a's log", strings.Join(r.LogA, " | "), "info: You joined wsx as ann. | you ann: hello from a | bob: hi from b, <b>not bold</b>"},
		{"page b's log", strings.Join(r.LogB, " | "), "info: You joined wsx as bob. | ann: hello from a | you bob: hi from b, <b>not bold</b>"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if len(r.ConsoleErrors)+len(r.PageErrors)+len(r.CSPViolations) > 0 {
		t.Errorf("console errors %q, page errors %q, CSP violations %q", r.ConsoleErrors, r.PageErrors, r.CSPViolations)
	}
}

// buildNATSServer builds the NATS server of the module's requirements.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// natsServer is a NATS server process on 127.0.0.1.
type natsServer struct {
	*process
	port int
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// startNATSServer runs the NATS server on port and waits until it is
// ready. It is killed when the test ends, if it still runs.
func startNATSServer(t *testing.T, bin string, port int) *natsServer {
	t.Helper()
	n := &natsServer{process: newProcess("nats-server", "", bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port)), port: port}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(n.kill)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.stderr.String(), "Server is ready") {
		select {
		case <-n.done:
			t.Fatalf("nats-server exited (%v)\n%s", n.err, n.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not ready within 10s\n%s", n.stderr.String())
		}
	}
	return n
}

// kill ends the server at once, as a crash would.
func (n *natsServer) kill() {
	n.killGroup()
	<-n.done
}

// hubFreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func hubFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// hubEvent is a message a chat client received.
type hubEvent struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	From    string `json:"from"`
	Text    string `json:"text"`
	Local   int    `json:"local"`
	Cluster *int   `json:"cluster"`
	Error   string `json:"error"`
}

// hubClient is a chat client and everything it received.
type hubClient struct {
	id, node int
	name     string
	c        *wsx.Conn

	mu     sync.Mutex
	events []hubEvent
	counts map[string]int // chat messages received, by room
	end    error          // the read loop's end, once it ended
	notify chan struct{}
}

// dialHubClient connects to a node's /chat; with smallBuffer, its socket
// has a tiny receive buffer, and it reads nothing until read is called.
func dialHubClient(ctx context.Context, url string, id, node int, smallBuffer bool) (*hubClient, error) {
	opts := &wsx.DialOptions{}
	if smallBuffer {
		opts.NetDialContext = (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		}}).DialContext
	}
	c, _, err := wsx.Dial(ctx, url+"chat", opts)
	if err != nil {
		return nil, err
	}
	return &hubClient{id: id, node: node, name: fmt.Sprint("c", id), c: c, counts: map[string]int{}, notify: make(chan struct{}, 1)}, nil
}

// read starts the client's read loop.
func (h *hubClient) read() {
	go func() {
		var buf []byte
		for {
			_, p, err := h.c.AppendMessage(context.Background(), buf[:0])
			buf = p
			var ev hubEvent
			if err == nil {
				err = json.Unmarshal(p, &ev)
			}
			h.mu.Lock()
			if err != nil {
				h.end = err
			} else {
				h.events = append(h.events, ev)
				if ev.Type == "message" {
					h.counts[ev.Room]++
				}
			}
			h.mu.Unlock()
			select {
			case h.notify <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
}

func (h *hubClient) send(t *testing.T, format string, args ...any) {
	t.Helper()
	if err := h.c.Write(context.Background(), wsx.MessageText, fmt.Appendf(nil, format, args...)); err != nil {
		t.Fatalf("client %d: %v", h.id, err)
	}
}

// mark returns how many events the client has received so far.
func (h *hubClient) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

// await waits up to d for an event after index from that satisfies ok,
// and returns it.
func (h *hubClient) await(from int, d time.Duration, ok func(hubEvent) bool) (hubEvent, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		for _, ev := range h.events[from:] {
			if ok(ev) {
				h.mu.Unlock()
				return ev, nil
			}
		}
		from = len(h.events)
		end := h.end
		h.mu.Unlock()
		if end != nil {
			return hubEvent{}, fmt.Errorf("client %d: connection ended: %w", h.id, end)
		}
		select {
		case <-h.notify:
		case <-deadline.C:
			return hubEvent{}, fmt.Errorf("client %d: nothing expected within %v", h.id, d)
		}
	}
}

// barrier asks for the presence of a room the client is not in: the error
// comes after whatever the server had queued for the client before.
func (h *hubClient) barrier() error {
	from := h.mark()
	if err := h.c.Write(context.Background(), wsx.MessageText, []byte(`{"type":"presence","room":"no such room"}`)); err != nil {
		return fmt.Errorf("client %d: %w", h.id, err)
	}
	_, err := h.await(from, 20*time.Second, func(ev hubEvent) bool { return ev.Type == "error" && ev.Room == "no such room" })
	return err
}

// count returns how many chat messages of room the client received.
func (h *hubClient) count(room string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[room]
}

// hubEach runs fn for every client, 50 at a time, and fails the test with
// the first error.
func hubEach(t *testing.T, clients []*hubClient, fn func(i int, c *hubClient) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	next := make(chan int)
	for range 50 {
		wg.Go(func() {
			for i := range next {
				if err := fn(i, clients[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// messages returns the chat messages of room the client received.
func (h *hubClient) messages(room string) []hubEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hubEvent
	for _, ev := range h.events {
		if ev.Type == "message" && ev.Room == room {
			out = append(out, ev)
		}
	}
	return out
}

// hubMetric returns the value of an unlabelled metric of a node.
func hubMetric(t *testing.T, s *wsxServer, name string) string {
	t.Helper()
	resp, err := http.Get(s.httpURL() + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	io.Copy(io.Discard, resp.Body)
	return ""
}

// hubWaitMetric waits until every node reports want for a metric.
func hubWaitMetric(t *testing.T, nodes []*wsxServer, name, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range nodes {
		for hubMetric(t, s, name) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s of %s is %q, want %s", name, s.url, hubMetric(t, s, name), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

const (
	hubClients    = 1000
	hubPublishers = 6
)

func testHubCluster(t *testing.T, bin, natsBin string, n int) {
	start := time.Now()
	nats := startNATSServer(t, natsBin, hubFreePort(t))
	var nodes []*wsxServer
	for range n {
		nodes = append(nodes, startServe(t, bin, "--broker", nats.url()))
	}

	// 1,000 clients, client i on node i%n, all in the lobby.
	clients := make([]*hubClient, hubClients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.c.CloseNow()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, hubClients)
	ids := make(chan int)
	for range 50 {
		wg.Go(func() {
			for i := range ids {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := dialHubClient(ctx, nodes[i%n].url, i, i%n, false)
				cancel()
				if err != nil {
					errs <- err
					continue
				}
				clients[i] = c
				c.read()
				c.c.Write(context.Background(), wsx.MessageText, fmt.Appendf(nil, `{"type":"join","room":"lobby","name":"c%d"}`, i))
				if _, err := c.await(0, 30*time.Second, func(ev hubEvent) bool { return ev.Type == "presence" && ev.Room == "lobby" }); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range hubClients {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every node counts everyone: each node's subscription to the lobby
	// is in place at the NATS server, since that is where the query
	// reached it.
	for k := range n {
		waitPresence(t, clients[k], "lobby", hubClients)
	}
	t.Logf("%d clients joined on %d nodes in %v", hubClients, n, time.Since(start).Round(time.Millisecond))

	// Round 1: publishers on every node, at once.
	publishers := clients[:hubPublishers]
	lobby := clients
	hubRound(t, "r1", publishers, lobby, 20)

	// A client that leaves gets nothing more.
	leaver := clients[hubClients-1]
	leaver.send(t, `{"type":"leave","room":"lobby"}`)
	if err := leaver.barrier(); err != nil {
		t.Fatal(err)
	}
	before := leaver.count("lobby")
	lobby = clients[:hubClients-1]
	hubRound(t, "r2", publishers, lobby, 10)
	if err := leaver.barrier(); err != nil {
		t.Fatal(err)
	}
	if got := leaver.count("lobby") - before; got != 0 {
		t.Errorf("the client that left received %d messages", got)
	}

	// A client that never reads, in a room of 12 with long messages: it
	// is closed with 1013 when its queue overflows, and the others get
	// every message meanwhile.
	testHubSlowClient(t, nodes, clients[100:112])

	// NATS killed: publishers hear that their message reached their
	// node only; it reaches the members there.
	nats.kill()
	hubWaitMetric(t, nodes, "wsx_hub_broker_connected", "0")
	marks := make([]int, len(lobby))
	for i, c := range lobby {
		marks[i] = c.mark()
	}
	for k := range n {
		p := clients[k]
		from := p.mark()
		p.send(t, `{"type":"publish","room":"lobby","text":"outage %d"}`, k)
		ev, err := p.await(from, 10*time.Second, func(ev hubEvent) bool { return ev.Type == "error" })
		if err != nil || !strings.Contains(ev.Error, "this server only") {
			t.Fatalf("publish during the outage: %+v, %v; want an error saying it reached this server only", ev, err)
		}
	}
	for i, c := range lobby {
		want := fmt.Sprint("outage ", c.node)
		if _, err := c.await(marks[i], 20*time.Second, func(ev hubEvent) bool { return ev.Type == "message" && ev.Text == want }); err != nil {
			t.Fatalf("local delivery during the outage: %v", err)
		}
	}

	// NATS back on its port: the nodes reconnect and subscribe again.
	startNATSServer(t, natsBin, nats.port)
	hubWaitMetric(t, nodes, "wsx_hub_broker_connected", "1")
	for k := range n {
		waitPresence(t, clients[k], "lobby", len(lobby))
	}
	hubRound(t, "r3", publishers, lobby, 10)

	// Nobody got another node's outage message, nor their own twice.
	hubEach(t, lobby, func(_ int, c *hubClient) error {
		if err := c.barrier(); err != nil {
			return err
		}
		seen := 0
		for _, ev := range c.messages("lobby") {
			if strings.HasPrefix(ev.Text, "outage ") {
				if ev.Text != fmt.Sprint("outage ", c.node) {
					return fmt.Errorf("client %d on node %d received %q", c.id, c.node, ev.Text)
				}
				seen++
			}
		}
		if seen != 1 {
			return fmt.Errorf("client %d received its node's outage message %d times", c.id, seen)
		}
		return nil
	})
	t.Logf("%d nodes: done in %v", n, time.Since(start).Round(time.Millisecond))
}

// waitPresence asks through c for the presence of room until all nodes
// together count want.
func waitPresence(t *testing.T, c *hubClient, room string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		from := c.mark()
		c.send(t, `{"type":"presence","room":%q}`, room)
		ev, err := c.await(from, 10*time.Second, func(ev hubEvent) bool { return ev.Type == "presence" && ev.Room == room })
		if err != nil {
			t.Fatal(err)
		}
		if ev.Cluster != nil && *ev.Cluster == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence of %s from client %d: %+v, want %d in all", room, c.id, ev, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hubRound has each publisher publish count messages "ROUND i" to the
// lobby at once and checks that every member receives each exactly once,
// in each publisher's order.
func hubRound(t *testing.T, round string, publishers, members []*hubClient, count int) {
	t.Helper()
	start := time.Now()
	marks := make([]int, len(members))
	for i, c := range members {
		marks[i] = c.count("lobby")
	}
	for _, p := range publishers {
		go func() {
			for i := range count {
				p.c.Write(context.Background(), wsx.MessageText, fmt.Appendf(nil, `{"type":"publish","room":"lobby","text":"%s %d"}`, round, i))
			}
		}()
	}
	want := len(publishers) * count
	deadline := time.Now().Add(30 * time.Second)
	for i, c := range members {
		for c.count("lobby")-marks[i] < want {
			if time.Now().After(deadline) {
				t.Fatalf("round %s: client %d (node %d) received %d of %d messages", round, c.id, c.node, c.count("lobby")-marks[i], want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	hubEach(t, members, func(i int, c *hubClient) error {
		if err := c.barrier(); err != nil {
			return err
		}
		got := c.messages("lobby")[marks[i]:]
		if len(got) != want {
			return fmt.Errorf("round %s: client %d received %d messages, want %d", round, c.id, len(got), want)
		}
		next := map[string]int{}
		for _, ev := range got {
			var r string
			var k int
			if _, err := fmt.Sscanf(ev.Text, "%s %d", &r, &k); err != nil || r != round {
				return fmt.Errorf("round %s: client %d received %q from %s", round, c.id, ev.Text, ev.From)
			}
			if k != next[ev.From] {
				return fmt.Errorf("round %s: client %d received %s's message %d when %d was due", round, c.id, ev.From, k, next[ev.From])
			}
			next[ev.From]++
		}
		if len(next) != len(publishers) {
			return fmt.Errorf("round %s: client %d heard from %d publishers, want %d", round, c.id, len(next), len(publishers))
		}
		return nil
	})
	t.Logf("round %s: %d messages to %d members in %v", round, want, len(members), time.Since(start).Round(time.Millisecond))
}

// testHubSlowClient adds a client that stops reading to a room of the
// given clients, spread over the nodes, and floods the room.
func testHubSlowClient(t *testing.T, nodes []*wsxServer, members []*hubClient) {
	t.Helper()
	const room = "firehose"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow, err := dialHubClient(ctx, nodes[0].url, -1, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.c.CloseNow()
	// It reads its join's answer, and nothing after.
	slow.send(t, `{"type":"join","room":%q,"name":"slow"}`, room)
	if typ, p, err := slow.c.Read(ctx); err != nil || typ != wsx.MessageText || !strings.Contains(string(p), `"presence"`) {
		t.Fatalf("slow client's join: %s, %v", p, err)
	}
	for _, c := range members {
		from := c.mark()
		c.send(t, `{"type":"join","room":%q,"name":"%s"}`, room, c.name)
		if _, err := c.await(from, 10*time.Second, func(ev hubEvent) bool { return ev.Type == "presence" && ev.Room == room }); err != nil {
			t.Fatal(err)
		}
	}
	waitPresence(t, members[0], room, len(members)+1)

	// Every member publishes 100 messages of 2,000 characters (8 KB in
	// UTF-8), at 40 a second each: 9.6 MB, far more than the slow
	// client's queue of 256 messages and the server's socket buffer (up
	// to 4 MB) hold, at a pace the others keep up with.
	start := time.Now()
	long := strings.Repeat("\U0001F600", 1990)
	const each = 100
	publishers := members
	for p, c := range publishers {
		go func() {
			for i := range each {
				c.c.Write(context.Background(), wsx.MessageText, fmt.Appendf(nil, `{"type":"publish","room":%q,"text":"%d %d %s"}`, room, p, i, long))
				time.Sleep(25 * time.Millisecond)
			}
		}()
	}
	// As soon as its queue has overflowed, the slow client reads: the
	// start of the stream in order, then close 1013 (its stuck write
	// ended once it read; a write stuck for 10s would have cut it off).
	hubWaitMetric(t, nodes[:1], "wsx_hub_slow_closed_total", "1")
	type slowResult struct {
		got int
		err error
	}
	slowDone := make(chan slowResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		next := make([]int, len(publishers))
		got := 0
		for {
			typ, p, err := slow.c.Read(ctx)
			if err != nil {
				if wsx.CloseStatus(err) != wsx.StatusTryAgainLater {
					err = fmt.Errorf("slow client: read %w after %d messages, want close 1013", err, got)
				} else {
					err = nil
				}
				slowDone <- slowResult{got, err}
				return
			}
			var ev hubEvent
			if typ != wsx.MessageText || json.Unmarshal(p, &ev) != nil {
				slowDone <- slowResult{got, fmt.Errorf("slow client got %.100q", p)}
				return
			}
			if ev.Type != "message" {
				continue
			}
			var k, i int
			fmt.Sscanf(ev.Text, "%d %d", &k, &i)
			if i != next[k] {
				slowDone <- slowResult{got, fmt.Errorf("slow client: publisher %d's message %d came when %d was due", k, i, next[k])}
				return
			}
			next[k]++
			got++
		}
	}()
	for _, c := range members {
		for c.count(room) < len(publishers)*each {
			if time.Since(start) > 40*time.Second {
				t.Fatalf("client %d received %d of %d messages", c.id, c.count(room), len(publishers)*each)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	took := time.Since(start)
	res := <-slowDone
	if res.err != nil {
		t.Fatal(res.err)
	}
	got := res.got
	if got >= len(publishers)*each {
		t.Errorf("the slow client received all %d messages", got)
	}
	t.Logf("slow client: closed with 1013 after %d of %d messages; the %d others had them all in %v",
		got, len(publishers)*each, len(members), took.Round(time.Millisecond))
	for _, c := range members {
		c.send(t, `{"type":"leave","room":%q}`, room)
	}
}
