package reconnect_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// TestBackoff has a server refuse six attempts with 503, then accept a
// connection that it closes after StableAfter, which resets the backoff,
// then accept one that it closes at once, which makes the backoff grow
// again. Without jitter the delays are exact: 1s, 2s, 4s, 8s, then capped
// at 10s.
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stable = 20 * time.Second
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 6 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			switch n {
			case 7:
				time.Sleep(stable)
			case 8:
			default:
				readAll(c, new(sync.Mutex), new([]string))
				return
			}
			c.Close(4000, "bye")
		})
		defer srv.Close()
		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{
			DialOptions: srv.dialOptions(),
			Backoff:     reconnect.Backoff{Min: time.Second, Max: 10 * time.Second, Factor: 2, Jitter: 0},
			StableAfter: stable,
			OnEvent:     rec.on,
		})
		defer closeClient(t, c)

		var at time.Duration
		for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
			ev := rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: i + 1, RetryIn: want * time.Second})
			if ev.Response == nil || ev.Response.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("attempt %d: response %v, want 503", i+1, ev.Response)
			}
			if ev.At != at {
				t.Errorf("attempt %d failed at %v, want %v", i+1, ev.At, at)
			}
			at += ev.RetryIn
		}
		ev := rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 7})
		if ev.At != at {
			t.Errorf("connected at %v, want %v", ev.At, at)
		}
		ev = rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.ServerClosed, RetryIn: time.Second,
			Code: 4000, CloseReason: "bye"})
		if at += stable; ev.At != at {
			t.Errorf("disconnected at %v, want %v", ev.At, at)
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.ServerClosed, Attempt: 1})
		// The second connection did not last: 2s, as after one failure.
		ev = rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.ServerClosed, RetryIn: 2 * time.Second})
		if at += time.Second; ev.At != at {
			t.Errorf("disconnected at %v, want %v", ev.At, at)
		}
		ev = rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.ServerClosed, Attempt: 1})
		if at += 2 * time.Second; ev.At != at {
			t.Errorf("connected at %v, want %v", ev.At, at)
		}
	})
}

// TestBackoffJitter checks the default Backoff: each delay lies in
// [base/2, base] with base = min(30s, 100ms·2ⁿ), the Client waits exactly
// that long, and the delays are not all equal to their base.
func TestBackoffJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newTestServer(func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		})
		defer srv.Close()
		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{DialOptions: srv.dialOptions(), OnEvent: rec.on})
		defer closeClient(t, c)
		var prev stamped
		jittered := 0
		for n := range 20 {
			ev := rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: n + 1})
			base := min(30*time.Second, 100*time.Millisecond<<n)
			if ev.RetryIn < base/2 || ev.RetryIn > base {
				t.Errorf("attempt %d: RetryIn %v, want within [%v, %v]", n+1, ev.RetryIn, base/2, base)
			}
			if ev.RetryIn != base {
				jittered++
			}
			if n > 0 && ev.At-prev.At != prev.RetryIn {
				t.Errorf("attempt %d came %v after the previous one, want its RetryIn %v", n+1, ev.At-prev.At, prev.RetryIn)
			}
			prev = ev
		}
		if jittered < 10 {
			t.Errorf("only %d of 20 delays differ from their base", jittered)
		}
	})
}

// TestReconnectDuringBackoff checks that Reconnect cuts a wait short.
func TestReconnectDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			if c := srv.accept(t, w, r); c != nil {
				readAll(c, new(sync.Mutex), new([]string))
			}
		})
		defer srv.Close()
		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{
			DialOptions: srv.dialOptions(),
			Backoff:     reconnect.Backoff{Min: time.Hour, Max: time.Hour},
			OnEvent:     rec.on,
		})
		defer closeClient(t, c)
		rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: 1})
		time.Sleep(time.Minute)
		c.Reconnect()
		ev := rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 2})
		if ev.At != time.Minute {
			t.Errorf("connected at %v, want 1m", ev.At)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.WaitConnected(ctx); err != nil {
			t.Errorf("WaitConnected: %v", err)
		}
		if err := c.SendNow(ctx, wsx.MessageText, []byte("now")); err != nil {
			t.Errorf("SendNow: %v", err)
		}
	})
}
