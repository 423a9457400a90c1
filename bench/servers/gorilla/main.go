// Command gorilla is the gorilla/websocket echo server of the comparison:
// net/http, a write buffer pool so idle connections hold no write buffer,
// and a loop that reads each message into a reused buffer and writes it
// back as one frame.
package main

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/wsx-go/wsx/bench/internal/srv"
)

func main() {
	ln := srv.Listen()
	up := websocket.Upgrader{
		ReadBufferSize:    4096,
		WriteBufferSize:   4096,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: srv.Compress(),
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var buf bytes.Buffer
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.WriteMessage(typ, buf.Bytes()); err != nil {
				return
			}
		}
	}
	srv.Fatal((&http.Server{Handler: http.HandlerFunc(handler)}).Serve(ln))
}
