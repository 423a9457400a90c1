package wsx

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestWritePrepared sends one prepared message on connections with every
// compression arrangement, from a server and from a client, and checks
// what each receives; and that servers without context takeover share one
// compressed frame.
func TestWritePrepared(t *testing.T) {
	data := []byte(strings.Repeat("prepared message, sent to many; ", 40))
	small := []byte("tiny")
	modes := []struct {
		name   string
		server CompressionMode
		client CompressionMode
	}{
		{"off", CompressionDisabled, CompressionDisabled},
		{"no-context-takeover", CompressionNoContextTakeover, CompressionNoContextTakeover},
		{"context-takeover", CompressionContextTakeover, CompressionContextTakeover},
		{"client-offers-takeover-server-refuses", CompressionNoContextTakeover, CompressionContextTakeover},
	}
	pm, err := NewPreparedMessage(MessageText, data)
	if err != nil {
		t.Fatal(err)
	}
	pmSmall, _ := NewPreparedMessage(MessageBinary, small)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, fromServer := range []bool{true, false} {
				srvConn := make(chan *Conn, 1)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := Accept(w, r, &AcceptOptions{CompressionMode: m.server})
					if err != nil {
						t.Error(err)
						return
					}
					srvConn <- c
				}))
				cli, _, err := Dial(context.Background(), srv.URL, &DialOptions{CompressionMode: m.client})
				if err != nil {
					t.Fatal(err)
				}
				sc := <-srvConn
				sender, receiver := sc, cli
				if !fromServer {
					sender, receiver = cli, sc
				}
				ctx := context.Background()
				for i := 0; i < 3; i++ {
					for _, p := range []*PreparedMessage{pm, pmSmall} {
						if err := sender.WritePrepared(ctx, p); err != nil {
							t.Fatal(err)
						}
						typ, got, err := receiver.Read(ctx)
						if err != nil || typ != p.Type() || !bytes.Equal(got, p.Data()) {
							t.Fatalf("from server %v: got %v %d bytes, %v; want %v %d bytes", fromServer, typ, len(got), err, p.Type(), len(p.Data()))
						}
					}
				}
				sc.CloseNow()
				cli.CloseNow()
				srv.Close()
			}
		})
	}
	// Both servers without context takeover used one compressed variant,
	// at the full window and default level.
	if len(pm.variants) != 1 {
		t.Errorf("%d compressed variants, want 1", len(pm.variants))
	}
	if len(pmSmall.variants) != 0 {
		t.Errorf("a message under the threshold was compressed")
	}
}

// TestWritePreparedConcurrent sends prepared messages from many goroutines
// on one connection while they are prepared lazily.
func TestWritePreparedConcurrent(t *testing.T) {
	srvConn := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{CompressionMode: CompressionNoContextTakeover})
		if err != nil {
			return
		}
		srvConn <- c
	}))
	defer srv.Close()
	cli, _, err := Dial(context.Background(), srv.URL, &DialOptions{CompressionMode: CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.CloseNow()
	sc := <-srvConn
	defer sc.CloseNow()
	const senders, each = 8, 50
	msgs := make([]*PreparedMessage, 4)
	for i := range msgs {
		msgs[i], _ = NewPreparedMessage(MessageText, bytes.Repeat([]byte{'a' + byte(i)}, 1000))
	}
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := sc.WritePrepared(context.Background(), msgs[(g+i)%len(msgs)]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < senders*each; i++ {
		_, p, err := cli.Read(context.Background())
		if err != nil || len(p) != 1000 || bytes.Count(p, p[:1]) != 1000 {
			t.Fatalf("message %d: %d bytes, %v", i, len(p), err)
		}
	}
	wg.Wait()
}
