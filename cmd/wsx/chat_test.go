package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsx-go/wsx"
)

// chatOut is any message the chat server sends.
type chatOut struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	From    string `json:"from"`
	Text    string `json:"text"`
	ID      uint64 `json:"id"`
	Node    string `json:"node"`
	Time    string `json:"time"`
	Local   int    `json:"local"`
	Cluster *int   `json:"cluster"`
	Error   string `json:"error"`
}

type chatClient struct {
	t *testing.T
	c *wsx.Conn
}

// dialChat connects to /chat of the server at url (ws://HOST:PORT/).
func dialChat(t *testing.T, url string) *chatClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, url+"chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &chatClient{t, c}
}

func (cc *chatClient) send(msg string) {
	cc.t.Helper()
	if err := cc.c.Write(context.Background(), wsx.MessageText, []byte(msg)); err != nil {
		cc.t.Fatal(err)
	}
}

// next returns the next message; with skipPresence, presence messages
// (which also come whenever the room changes) are passed over.
func (cc *chatClient) next(skipPresence bool) chatOut {
	cc.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		typ, p, err := cc.c.Read(ctx)
		cancel()
		if err != nil {
			cc.t.Fatalf("read: %v", err)
		}
		if typ != wsx.MessageText {
			cc.t.Fatalf("got a %v message", typ)
		}
		var out chatOut
		if err := json.Unmarshal(p, &out); err != nil {
			cc.t.Fatalf("invalid JSON from the server: %q", p)
		}
		if skipPresence && out.Type == "presence" {
			continue
		}
		return out
	}
}

// expectError checks that the next message other than presence is an
// error mentioning want.
func (cc *chatClient) expectError(want string) {
	cc.t.Helper()
	if out := cc.next(true); out.Type != "error" || !strings.Contains(out.Error, want) {
		cc.t.Fatalf("got %+v, want an error mentioning %q", out, want)
	}
}

// join joins room and returns the presence that answers it.
func (cc *chatClient) join(room, name string) chatOut {
	cc.t.Helper()
	cc.send(fmt.Sprintf(`{"type":"join","room":%q,"name":%q}`, room, name))
	for {
		out := cc.next(false)
		if out.Type == "presence" && out.Room == room {
			return out
		}
		if out.Type == "error" {
			cc.t.Fatalf("join %q: %s", room, out.Error)
		}
	}
}

// expectClose reads until the connection ends and checks the close code.
func (cc *chatClient) expectClose(code wsx.StatusCode) {
	cc.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := cc.c.Read(ctx)
		cancel()
		if err != nil {
			if got := wsx.CloseStatus(err); got != code {
				cc.t.Fatalf("connection ended with %v, want close %v", err, code)
			}
			return
		}
	}
}

func TestChat(t *testing.T) {
	url := serveChat(t)
	a, b := dialChat(t, url), dialChat(t, url)

	if p := a.join("lobby", "ann"); p.Local != 1 || p.Cluster == nil || *p.Cluster != 1 {
		t.Errorf("ann's join answered %+v, want 1 here and 1 in all", p)
	}
	if p := b.join("lobby", " bob "); p.Local != 2 || *p.Cluster != 2 {
		t.Errorf("bob's join answered %+v", p)
	}
	// Ann hears of bob through a presence message.
	for {
		if p := a.next(false); p.Type == "presence" && p.Local == 2 {
			break
		}
	}

	a.send(`{"type":"publish","room":"lobby","text":"hi <b>bob</b>"}`)
	var first chatOut
	for i, cl := range []*chatClient{a, b} {
		m := cl.next(true)
		if m.Type != "message" || m.Room != "lobby" || m.From != "ann" || m.Text != "hi <b>bob</b>" || m.ID == 0 || m.Node == "" {
			t.Fatalf("client %d got %+v", i, m)
		}
		if _, err := time.Parse(time.RFC3339, m.Time); err != nil {
			t.Errorf("time %q: %v", m.Time, err)
		}
		if i == 0 {
			first = m
		} else if m != first {
			t.Errorf("members got different messages: %+v and %+v", first, m)
		}
	}
	b.send(`{"type":"publish","room":"lobby","text":"hello"}`)
	if m := a.next(true); m.From != "bob" || m.ID <= first.ID {
		t.Errorf("bob's message as ann got it: %+v", m)
	}
	b.next(true)

	// Asked for, presence comes at once.
	a.send(`{"type":"presence","room":"lobby"}`)
	if p := a.next(false); p.Type != "presence" || p.Room != "lobby" {
		t.Errorf("presence request answered %+v", p)
	}

	// Bob leaves: the answer is the room's presence without him, and
	// he no longer gets the room's messages.
	b.send(`{"type":"leave","room":"lobby"}`)
	if p := b.next(false); p.Type != "presence" || p.Local != 1 {
		t.Errorf("leave answered %+v", p)
	}
	a.send(`{"type":"publish","room":"lobby","text":"gone?"}`)
	if m := a.next(true); m.Text != "gone?" {
		t.Fatalf("ann got %+v", m)
	}
	b.send(`{"type":"publish","room":"lobby","text":"x"}`)
	b.expectError("not in this room")
}

func TestChatErrors(t *testing.T) {
	url := serveChat(t)
	c := dialChat(t, url)
	c.join("r", "ann")
	tests := []struct{ send, want string }{
		{`not json`, "invalid JSON"},
		{`{"type":"shout","room":"r"}`, `unknown message type "shout"`},
		{`{"room":"r"}`, `unknown message type ""`},
		{`{"type":"join","room":"","name":"ann"}`, "invalid room"},
		{`{"type":"join","room":"` + strings.Repeat("r", chatMaxRoom+1) + `","name":"ann"}`, "invalid room"},
		{`{"type":"join","room":"ok","name":""}`, "invalid name"},
		{`{"type":"join","room":"ok","name":"` + strings.Repeat("n", chatMaxName+1) + `"}`, "invalid name"},
		{`{"type":"join","room":"ok","name":"a\u0007b"}`, "invalid name"},
		{`{"type":"publish","room":"other","text":"hi"}`, "not in this room"},
		{`{"type":"publish","room":"r","text":""}`, "invalid text"},
		{`{"type":"publish","room":"r","text":"` + strings.Repeat("é", chatMaxText+1) + `"}`, "invalid text"},
		{`{"type":"leave","room":"other"}`, "not in this room"},
		{`{"type":"presence","room":"other"}`, "not in this room"},
	}
	for _, tt := range tests {
		c.send(tt.send)
		c.expectError(tt.want)
	}
	// Rooms per connection.
	for i := 1; i < chatMaxRooms; i++ {
		c.join(fmt.Sprint("room", i), "ann")
	}
	c.send(`{"type":"join","room":"one too many","name":"ann"}`)
	c.expectError("too many rooms")

	// Publishing faster than the limit.
	for range chatBurst + 20 {
		c.send(`{"type":"publish","room":"r","text":"flood"}`)
	}
	sawLimit := false
	for range chatBurst + 20 {
		out := c.next(true)
		if out.Type == "error" && strings.Contains(out.Error, "too fast") {
			sawLimit = true
		}
	}
	if !sawLimit {
		t.Error("no rate limit error")
	}
}

func TestChatAbuse(t *testing.T) {
	url := serveChat(t, "--max-message-size", "64KiB")

	// Binary messages are not part of the protocol: 1003.
	c := dialChat(t, url)
	c.c.Write(context.Background(), wsx.MessageBinary, []byte{1, 2, 3})
	c.expectClose(wsx.StatusUnsupportedData)

	// Invalid messages get errors, and after chatMaxStrikes, 1008.
	c = dialChat(t, url)
	for range chatMaxStrikes {
		c.send("{")
	}
	for range chatMaxStrikes - 1 {
		c.expectError("invalid JSON")
	}
	c.expectClose(wsx.StatusPolicyViolation)

	// A message over the chat's own limit, though under
	// --max-message-size: 1009.
	c = dialChat(t, url)
	c.send(`{"type":"publish","text":"` + strings.Repeat("x", chatMaxMessage) + `"}`)
	c.expectClose(wsx.StatusMessageTooBig)
}

// TestChatPage checks that a browser asking for /chat gets the page, under
// the same security headers as the echo tool.
func TestChatPage(t *testing.T) {
	url := serveChat(t)
	base := "http" + strings.TrimPrefix(url, "ws")
	for _, tt := range []struct{ path, typ, want string }{
		{"chat", "text/html", `<script src="/static/chat.js" defer></script>`},
		{"static/chat.js", "text/javascript", "'use strict'"},
		{"static/chat.css", "text/css", ".chat-log"},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.typ) || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET /%s: %d %q, body without %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); csp != pageCSP {
			t.Errorf("GET /%s: CSP %q", tt.path, csp)
		}
	}
}

// TestChatShutdown checks that chat connections, like echo ones, get close
// 1001 when the server shuts down.
func TestChatShutdown(t *testing.T) {
	url, stop := startServe(t)
	c := dialChat(t, url)
	c.join("lobby", "ann")
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.expectClose(wsx.StatusGoingAway)
	}()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestChatBrokerFlag(t *testing.T) {
	for _, tt := range []struct {
		broker string
		code   bool // a usage error (exit status 2)
		want   string
	}{
		{"redis://127.0.0.1:6379", true, "want memory or nats://HOST:PORT"},
		{"nats://", true, "want memory or nats://HOST:PORT"},
		{"nats://127.0.0.1:1", false, "connect to NATS at nats://127.0.0.1:1"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--broker", tt.broker}, strings.NewReader(""), io.Discard, &stderr)
		_, isCode := err.(exitCode)
		msg := stderr.String()
		if err != nil {
			msg += err.Error()
		}
		if err == nil || isCode != tt.code || !strings.Contains(msg, tt.want) {
			t.Errorf("--broker %s: %v, %q; want an error mentioning %q", tt.broker, err, stderr.String(), tt.want)
		}
	}
	var stdout strings.Builder
	run(context.Background(), []string{"serve", "-h"}, strings.NewReader(""), &stdout, io.Discard)
	if !strings.Contains(stdout.String(), "/chat") {
		t.Error("wsx serve -h does not mention /chat")
	}
}

// serveChat runs "wsx serve" with args until the test ends; the test's
// clients, closed in earlier cleanups, are gone by then.
func serveChat(t *testing.T, args ...string) string {
	t.Helper()
	url, stop := startServe(t, args...)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("wsx serve: %v", err)
		}
	})
	return url
}

// startNATS runs a NATS server in the test's process on a free port of
// 127.0.0.1.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// TestChatNodes chats across two servers that share a NATS server, and
// checks the hub metrics.
func TestChatNodes(t *testing.T) {
	s := startNATS(t)
	url1 := serveChat(t, "--broker", s.ClientURL())
	url2 := serveChat(t, "--broker", s.ClientURL())
	a, b := dialChat(t, url1), dialChat(t, url2)
	a.join("lobby", "ann")
	if p := b.join("lobby", "bob"); p.Local != 1 || *p.Cluster != 2 {
		t.Errorf("bob's join on the second server answered %+v, want 1 here, 2 in all", p)
	}
	// Ann's server hears of bob and tells her.
	for {
		if p := a.next(false); p.Type == "presence" && p.Cluster != nil && *p.Cluster == 2 {
			break
		}
	}
	for i := range 20 {
		cl := []*chatClient{a, b}[i%2]
		cl.send(fmt.Sprintf(`{"type":"publish","room":"lobby","text":"%d"}`, i))
	}
	// Each sees its own messages and the other's, each once; each
	// sender's in order.
	for _, cl := range []*chatClient{a, b} {
		next := map[string]int{"ann": 0, "bob": 1}
		for range 20 {
			m := cl.next(true)
			if m.Text != fmt.Sprint(next[m.From]) {
				t.Fatalf("got %q from %s, want %d", m.Text, m.From, next[m.From])
			}
			next[m.From] += 2
		}
	}

	resp, err := http.Get("http" + strings.TrimPrefix(url1, "ws") + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"wsx_hub_published_total ",
		"wsx_hub_received_total 10",
		"wsx_hub_members 1",
		"wsx_hub_rooms 1",
		"wsx_hub_broker_connected 1",
		"wsx_hub_slow_closed_total 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics without %q", want)
		}
	}
}
