package reconnect_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// TestQueueDisconnected uses a Client that never connects.
func TestQueueDisconnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTestServer(func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		})
		defer srv.Close()
		c := reconnect.New("ws://test/", &reconnect.Options{DialOptions: srv.dialOptions(), QueueSize: 3})
		ctx := context.Background()
		send := func(m string) error { return c.Send(ctx, wsx.MessageText, []byte(m)) }

		for _, m := range []string{"1", "2", "3"} {
			if err := send(m); err != nil {
				t.Fatalf("send %s: %v", m, err)
			}
		}
		if err := send("4"); !errors.Is(err, reconnect.ErrQueueFull) {
			t.Errorf("send to a full queue: %v, want ErrQueueFull", err)
		}
		if n := c.ClearQueue(); n != 3 {
			t.Errorf("ClearQueue dropped %d, want 3", n)
		}
		if n := c.ClearQueue(); n != 0 {
			t.Errorf("ClearQueue dropped %d, want 0", n)
		}
		if err := c.Send(ctx, 0, []byte("x")); err == nil {
			t.Errorf("send with message type 0: no error")
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.Send(done, wsx.MessageText, []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("send with an ended context: %v, want context.Canceled", err)
		}
		send("a")
		send("b")
		if err := c.SendNow(ctx, wsx.MessageText, []byte("now")); !errors.Is(err, reconnect.ErrNotConnected) {
			t.Errorf("SendNow while disconnected: %v, want ErrNotConnected", err)
		}
		if conn := c.Conn(); conn != nil {
			t.Errorf("Conn while disconnected: %v, want nil", conn)
		}
		short, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := c.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush while disconnected: %v, want context.DeadlineExceeded", err)
		}
		if err := c.WaitConnected(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitConnected while refused: %v, want context.DeadlineExceeded", err)
		}

		// A Flush and a WaitConnected still waiting when Close comes.
		var wg sync.WaitGroup
		var flushErr, waitErr error
		wg.Go(func() { flushErr = c.Flush(ctx) })
		wg.Go(func() { waitErr = c.WaitConnected(ctx) })
		time.Sleep(time.Minute)
		unsent, err := c.Close(ctx, wsx.StatusNormalClosure, "")
		if unsent != 2 || err != nil {
			t.Errorf("Close: %d unsent, %v; want 2, nil", unsent, err)
		}
		wg.Wait()
		if !errors.Is(flushErr, reconnect.ErrClosed) || !errors.Is(waitErr, reconnect.ErrClosed) {
			t.Errorf("Flush, WaitConnected across Close: %v, %v; want ErrClosed", flushErr, waitErr)
		}
		if _, ok := <-c.Messages(); ok {
			t.Errorf("Messages not closed after Close")
		}
		for name, err := range map[string]error{
			"Send":          send("x"),
			"SendNow":       c.SendNow(ctx, wsx.MessageText, []byte("x")),
			"Flush":         c.Flush(ctx),
			"WaitConnected": c.WaitConnected(ctx),
		} {
			if !errors.Is(err, reconnect.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}
		if unsent, err := c.Close(ctx, wsx.StatusNormalClosure, ""); unsent != 0 || !errors.Is(err, reconnect.ErrClosed) {
			t.Errorf("second Close: %d, %v; want 0, ErrClosed", unsent, err)
		}
	})
}

// TestFlush checks that Flush returns once the server has read every
// queued message, and that SendNow writes on the current connection.
func TestFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 10 * time.Second
		var mu sync.Mutex
		var got []string
		var srv *testServer
		srv = newTestServer(func(_ int, w http.ResponseWriter, r *http.Request) {
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			time.Sleep(delay) // the client's writes wait meanwhile
			readAll(c, &mu, &got)
		})
		defer srv.Close()
		c := reconnect.New("ws://test/", &reconnect.Options{DialOptions: srv.dialOptions()})
		defer closeClient(t, c)
		ctx := context.Background()
		start := time.Now()
		want := []string{"1", "2", "3", "4", "5"}
		for _, m := range want {
			c.Send(ctx, wsx.MessageText, []byte(m))
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != delay {
			t.Errorf("Flush returned after %v, want %v", d, delay)
		}
		if err := c.Flush(ctx); err != nil {
			t.Errorf("Flush with an empty queue: %v", err)
		}
		if err := c.SendNow(ctx, wsx.MessageText, []byte("now")); err != nil {
			t.Errorf("SendNow: %v", err)
		}
		if c.Conn() == nil {
			t.Errorf("Conn is nil while connected")
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if want = append(want, "now"); !slices.Equal(got, want) {
			t.Errorf("server received %q, want %q", got, want)
		}
	})
}

// TestClearQueueKeepsInflight checks that ClearQueue leaves the message
// being written, which the server then receives, and drops the rest.
func TestClearQueueKeepsInflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []string
		var srv *testServer
		srv = newTestServer(func(_ int, w http.ResponseWriter, r *http.Request) {
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			time.Sleep(time.Minute) // the first write blocks meanwhile
			readAll(c, &mu, &got)
		})
		defer srv.Close()
		c := reconnect.New("ws://test/", &reconnect.Options{DialOptions: srv.dialOptions()})
		defer closeClient(t, c)
		ctx := context.Background()
		for _, m := range []string{"1", "2", "3"} {
			c.Send(ctx, wsx.MessageText, []byte(m))
		}
		time.Sleep(time.Second)
		if n := c.ClearQueue(); n != 2 {
			t.Errorf("ClearQueue dropped %d, want 2", n)
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, []string{"1"}) {
			t.Errorf("server received %q, want [\"1\"]", got)
		}
	})
}

// TestMessages checks that received messages arrive in order, across
// connections, with their types.
func TestMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			ctx := context.Background()
			for i := range 100 {
				typ := wsx.MessageText
				if i%2 == 1 {
					typ = wsx.MessageBinary
				}
				if err := c.Write(ctx, typ, []byte{byte(n), byte(i)}); err != nil {
					return
				}
			}
			if n == 1 {
				c.CloseNow()
				return
			}
			readAll(c, new(sync.Mutex), new([]string))
		})
		defer srv.Close()
		c := reconnect.New("ws://test/", &reconnect.Options{DialOptions: srv.dialOptions(), ReceiveBuffer: 1})
		defer closeClient(t, c)
		for n := 1; n <= 2; n++ {
			for i := range 100 {
				m := <-c.Messages()
				want := wsx.MessageText
				if i%2 == 1 {
					want = wsx.MessageBinary
				}
				if m.Type != want || !slices.Equal(m.Data, []byte{byte(n), byte(i)}) {
					t.Fatalf("message %v %v, want %v %v", m.Type, m.Data, want, []byte{byte(n), byte(i)})
				}
			}
		}
	})
}
