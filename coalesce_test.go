package wsx

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// countingConn counts the writes made to a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// echoLoop is the plainest echo: read a message, write it back.
func echoLoop(c *Conn) {
	ctx := context.Background()
	var buf []byte
	for {
		typ, p, err := c.AppendMessage(ctx, buf[:0])
		if err != nil {
			return
		}
		buf = p
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}

// TestCoalescedEchoes sends eight messages in one write to an echo loop:
// the eight echoes go out in one write, in order, and the connection then
// writes at once again for a message that is alone.
func TestCoalescedEchoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		cc := &countingConn{Conn: a}
		c := newConn(cc, false, nil, "", connConfig{})
		peer := rawpeer.NewConn(t, b, true)
		done := make(chan struct{})
		go func() {
			defer close(done)
			echoLoop(c)
		}()
		var batch []byte
		for i := range 8 {
			batch = append(batch, peer.Encode(rawpeer.Text(fmt.Sprintf("message %d", i)))...)
		}
		peer.WriteRaw(batch)
		for i := range 8 {
			m := peer.WantMessage()
			if want := fmt.Sprintf("message %d", i); string(m.Payload) != want {
				t.Fatalf("echo %d: %q, want %q", i, m.Payload, want)
			}
		}
		if n := cc.writes.Load(); n != 1 {
			t.Errorf("eight pipelined echoes took %d writes, want 1", n)
		}
		start := time.Now()
		peer.WriteFrame(rawpeer.Text("alone"))
		if m := peer.WantMessage(); string(m.Payload) != "alone" || time.Since(start) != 0 {
			t.Errorf("echo of a lone message: %q after %v, want at once", m.Payload, time.Since(start))
		}
		if n := cc.writes.Load(); n != 2 {
			t.Errorf("%d writes in all, want 2", n)
		}
		c.CloseNow()
		<-done
	})
}

// TestCoalescedReplyWaitsAtMostFlushDelay: a handler that reads one of two
// buffered messages, replies and then takes its time must not hold the
// reply back for longer than flushDelay.
func TestCoalescedReplyWaitsAtMostFlushDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c := newConn(a, false, nil, "", connConfig{})
		peer := rawpeer.NewConn(t, b, true)
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx := context.Background()
			for {
				_, p, err := c.Read(ctx)
				if err != nil {
					return
				}
				c.Write(ctx, MessageText, append([]byte("re: "), p...))
				time.Sleep(time.Second) // a slow handler
			}
		}()
		start := time.Now()
		peer.WriteRaw(append(peer.Encode(rawpeer.Text("one")), peer.Encode(rawpeer.Text("two"))...))
		if m := peer.WantMessage(); string(m.Payload) != "re: one" || time.Since(start) != flushDelay {
			t.Errorf("first reply %q after %v, want \"re: one\" after %v", m.Payload, time.Since(start), flushDelay)
		}
		if m := peer.WantMessage(); string(m.Payload) != "re: two" || time.Since(start) != time.Second {
			t.Errorf("second reply %q after %v, want \"re: two\" after 1s", m.Payload, time.Since(start))
		}
		c.CloseNow()
		<-done
	})
}
