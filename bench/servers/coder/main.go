// Command coder is the coder/websocket echo server of the comparison:
// net/http, and a loop that reads each message into a reused buffer and
// writes it back.
package main

import (
	"bytes"
	"context"
	"net/http"

	"github.com/coder/websocket"

	"github.com/wsx-go/wsx/bench/internal/srv"
)

func main() {
	ln := srv.Listen()
	opts := &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}
	if srv.Compress() {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(64 << 20)
		ctx := context.Background()
		var buf bytes.Buffer
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.Write(ctx, typ, buf.Bytes()); err != nil {
				return
			}
		}
	}
	srv.Fatal((&http.Server{Handler: http.HandlerFunc(handler)}).Serve(ln))
}
