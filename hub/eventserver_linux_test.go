//go:build linux

package hub_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/hub"
)

// TestEventServerMembers runs the hub over connections an EventServer
// serves: members join from OnOpen, publish from OnMessage and leave from
// OnClose, and every member receives every message.
func TestEventServerMembers(t *testing.T) {
	h := hub.New(nil)
	defer h.Close()
	var mu sync.Mutex
	members := map[*wsx.Conn]*hub.Member{}
	srv := &wsx.EventServer{
		OnOpen: func(c *wsx.Conn, r *http.Request) {
			m := h.Add(c)
			if err := m.Join(context.Background(), r.URL.Path[1:]); err != nil {
				t.Error(err)
			}
			mu.Lock()
			members[c] = m
			mu.Unlock()
		},
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			if err := h.Publish(context.Background(), "lobby", typ, msg); err != nil {
				t.Error(err)
			}
		},
		OnClose: func(c *wsx.Conn, err error) {
			mu.Lock()
			m := members[c]
			delete(members, c)
			mu.Unlock()
			m.Close()
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	served := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	const n = 5
	var conns []*wsx.Conn
	for range n {
		c, _, err := wsx.Dial(ctx, "ws://"+ln.Addr().String()+"/lobby", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		conns = append(conns, c)
	}
	// Presence tells when every member has joined.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if local, _, _ := h.Presence(ctx, "lobby"); local == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the members did not all join")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, c := range conns {
		c.Write(ctx, wsx.MessageText, []byte{'a' + byte(i)})
	}
	for i, c := range conns {
		var got [][]byte
		for range n {
			_, p, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("member %d: %v", i, err)
			}
			got = append(got, p)
		}
		for j := range n {
			found := false
			for _, p := range got {
				found = found || bytes.Equal(p, []byte{'a' + byte(j)})
			}
			if !found {
				t.Errorf("member %d did not receive member %d's message; got %q", i, j, got)
			}
		}
	}
	conns[0].Close(wsx.StatusNormalClosure, "")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if local, _, _ := h.Presence(ctx, "lobby"); local == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a member that closed is still in the room")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
