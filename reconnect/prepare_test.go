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

// TestPrepare checks that Prepare runs before every attempt with the
// attempt number, counted again from 1 after each connection, and that
// the URL and options it returns are used.
func TestPrepare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var paths, tokens syncList
		var srv *testServer
		srv = newTestServer(func(n int, w http.ResponseWriter, r *http.Request) {
			paths.add(r.URL.Path)
			tokens.add(r.Header.Get("Authorization"))
			if r.URL.Path != "/good" {
				http.NotFound(w, r)
				return
			}
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			if len(paths.get()) == 3 { // the first good connection
				c.Close(wsx.StatusGoingAway, "restart")
				return
			}
			readAll(c, new(sync.Mutex), new([]string))
		})
		defer srv.Close()

		errPrepare := errors.New("no token yet")
		var mu sync.Mutex
		var attempts []int
		rec := newRecorder()
		c := reconnect.New("ws://unused/", &reconnect.Options{
			Prepare: func(ctx context.Context, attempt int) (string, *wsx.DialOptions, error) {
				mu.Lock()
				attempts = append(attempts, attempt)
				total := len(attempts)
				mu.Unlock()
				if total == 1 {
					return "", nil, errPrepare
				}
				opts := srv.dialOptions()
				opts.HTTPHeader = http.Header{"Authorization": {"token" + string(rune('0'+total))}}
				if attempt < 4 {
					return "ws://test/bad", opts, nil
				}
				return "ws://test/good", opts, nil
			},
			Backoff: reconnect.Backoff{Min: time.Second, Jitter: 0},
			OnEvent: rec.on,
		})
		defer closeClient(t, c)

		ev := rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: 1})
		if !errors.Is(ev.Err, errPrepare) {
			t.Errorf("attempt 1: error %v, want Prepare's", ev.Err)
		}
		for _, attempt := range []int{2, 3} {
			ev := rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.Initial, Attempt: attempt})
			if ev.Response == nil || ev.Response.StatusCode != http.StatusNotFound {
				t.Errorf("attempt %d: response %v, want 404", attempt, ev.Response)
			}
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.Initial, Attempt: 4})
		rec.want(t, reconnect.Event{Type: reconnect.Disconnected, Reason: reconnect.ServerClosed, Code: wsx.StatusGoingAway, CloseReason: "restart"})
		for _, attempt := range []int{1, 2, 3} {
			rec.want(t, reconnect.Event{Type: reconnect.AttemptFailed, Reason: reconnect.ServerClosed, Attempt: attempt})
		}
		rec.want(t, reconnect.Event{Type: reconnect.Connected, Reason: reconnect.ServerClosed, Attempt: 4})

		mu.Lock()
		defer mu.Unlock()
		if want := []int{1, 2, 3, 4, 1, 2, 3, 4}; !slices.Equal(attempts, want) {
			t.Errorf("Prepare called with attempts %v, want %v", attempts, want)
		}
		if got, want := paths.get(), []string{"/bad", "/bad", "/good", "/bad", "/bad", "/bad", "/good"}; !slices.Equal(got, want) {
			t.Errorf("server saw paths %q, want %q", got, want)
		}
		if got, want := tokens.get(), []string{"token2", "token3", "token4", "token5", "token6", "token7", "token8"}; !slices.Equal(got, want) {
			t.Errorf("server saw tokens %q, want %q", got, want)
		}
	})
}
