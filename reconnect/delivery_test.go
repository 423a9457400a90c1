package reconnect_test

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// TestQueueSurvivesKills queues N messages and lets a server kill the
// connection at random: right after the handshake, after a random number
// of messages, or in the middle of a large message (after reading its
// first bytes, before the client has finished writing it). The server
// must receive every message exactly once, in order.
//
// The server never kills a connection after the client's write of a
// message completed but before the server recorded it: that is the loss
// the package documentation describes (a write that returned nil is no
// receipt), which only acknowledgements in the application protocol can
// repair. net.Pipe makes this test exact: a write returns when the server
// has read the bytes, and wsx reads no further than the message it is
// asked for, except that a fill of its 8 KiB buffer may take the rest of a
// frame, so the kills in mid-message happen only in messages of 16 KiB and
// more.
func TestQueueSurvivesKills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			n        = 2000
			minKills = 20
		)
		rng := rand.New(rand.NewPCG(20240611, 7)) // the server's, under mu
		sizes := rand.New(rand.NewPCG(20240611, 8))
		var (
			mu                                sync.Mutex
			got                               []uint64
			killsAccept, killsAfter, killsMid int
		)
		var srv *testServer
		srv = newTestServer(func(_ int, w http.ResponseWriter, r *http.Request) {
			c := srv.accept(t, w, r)
			if c == nil {
				return
			}
			defer c.CloseNow()
			mu.Lock()
			kill := rng.IntN(10) == 0
			if kill {
				killsAccept++
			}
			mu.Unlock()
			if kill {
				return
			}
			ctx := context.Background()
			for {
				_, rd, err := c.Reader(ctx)
				if err != nil {
					return
				}
				var hdr [16]byte
				if _, err := io.ReadFull(rd, hdr[:]); err != nil {
					return
				}
				seq, size := binary.BigEndian.Uint64(hdr[:8]), binary.BigEndian.Uint64(hdr[8:])
				mu.Lock()
				kill := size >= 16<<10 && rng.IntN(3) == 0
				if kill {
					killsMid++
				}
				mu.Unlock()
				if kill {
					return
				}
				rest, err := io.ReadAll(rd)
				if err != nil {
					return
				}
				if uint64(len(rest)+len(hdr)) != size {
					t.Errorf("message %d: %d bytes, want %d", seq, len(rest)+len(hdr), size)
				}
				mu.Lock()
				got = append(got, seq)
				kill = rng.IntN(50) == 0
				if kill {
					killsAfter++
				}
				mu.Unlock()
				if kill {
					return
				}
			}
		})

		rec := newRecorder()
		c := reconnect.New("ws://test/", &reconnect.Options{
			DialOptions: srv.dialOptions(),
			QueueSize:   n,
			Backoff:     reconnect.Backoff{Min: 10 * time.Millisecond, Max: time.Second, Jitter: 0.5},
			OnEvent:     rec.on,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
		defer cancel()
		for i := range n {
			size := 16 + sizes.IntN(200)
			if sizes.IntN(10) == 0 {
				size = 16<<10 + sizes.IntN(24<<10)
			}
			p := make([]byte, size)
			binary.BigEndian.PutUint64(p, uint64(i))
			binary.BigEndian.PutUint64(p[8:], uint64(size))
			if err := c.Send(ctx, wsx.MessageBinary, p); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		synctest.Wait() // the server has recorded the last message
		unsent, err := c.Close(ctx, wsx.StatusNormalClosure, "")
		if unsent != 0 {
			t.Errorf("close: %d unsent, want 0 (err %v)", unsent, err)
		}
		srv.Close()

		mu.Lock()
		defer mu.Unlock()
		dups, gaps := 0, 0
		for i := 1; i < len(got); i++ {
			switch {
			case got[i] <= got[i-1]:
				dups++
				if dups <= 5 {
					t.Errorf("message %d received again after %d", got[i], got[i-1])
				}
			case got[i] != got[i-1]+1:
				gaps++
				if gaps <= 5 {
					t.Errorf("messages %d to %d missing", got[i-1]+1, got[i]-1)
				}
			}
		}
		if len(got) != n || got[0] != 0 || got[n-1] != n-1 {
			t.Errorf("server received %d messages (%d duplicates, %d gaps), want %d in order", len(got), dups, gaps, n)
		}
		kills := killsAccept + killsAfter + killsMid
		lost := 0
		for _, ev := range rec.all() {
			if ev.Type == reconnect.Disconnected && ev.Reason == reconnect.Lost {
				lost++
			}
		}
		t.Logf("%d messages, %d kills (%d at accept, %d between messages, %d mid-message), %d Lost events, %d duplicates, fake time %v",
			len(got), kills, killsAccept, killsAfter, killsMid, lost, dups, time.Since(rec.start))
		if kills < minKills || killsMid == 0 || killsAfter == 0 {
			t.Errorf("only %d kills (%d mid-message, %d between messages), want at least %d and some of each", kills, killsMid, killsAfter, minKills)
		}
		if lost != kills {
			t.Errorf("%d Disconnected events with reason Lost, want %d (one per kill)", lost, kills)
		}
	})
}
