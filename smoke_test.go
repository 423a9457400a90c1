package wsx_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

func TestSmoke(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, nil)
		if err != nil {
			t.Log(err)
			return
		}
		var buf []byte
		for {
			typ, b, err := c.AppendMessage(r.Context(), buf[:0])
			if err != nil {
				t.Log("server:", err)
				return
			}
			buf = b
			if err := c.Write(r.Context(), typ, b); err != nil {
				t.Log("server write:", err)
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		p := bytes.Repeat([]byte("a"), n)
		if err := c.Write(ctx, wsx.MessageText, p); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != wsx.MessageText || !bytes.Equal(got, p) {
			t.Fatalf("n=%d: %v %v %d", n, typ, err, len(got))
		}
	}
	w, _ := c.Writer(ctx, wsx.MessageBinary)
	for i := 0; i < 100; i++ {
		w.Write(bytes.Repeat([]byte("xyz"), 1000))
	}
	w.Close()
	typ, got, err := c.Read(ctx)
	if err != nil || typ != wsx.MessageBinary || len(got) != 300000 {
		t.Fatal(typ, err, len(got))
	}
	go func() { c.Ping(ctx) }()
	if err := c.Close(wsx.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
}
