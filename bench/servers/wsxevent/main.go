// Command wsxevent is the wsx echo server of the comparison in its event
// loop form: a wsx.EventServer, whose loop hands each message to OnMessage,
// which writes it back.
package main

import (
	"context"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/bench/internal/srv"
)

func main() {
	ln := srv.Listen()
	s := &wsx.EventServer{
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			if err := c.Write(context.Background(), typ, msg); err != nil {
				c.CloseNow()
			}
		},
	}
	if srv.Compress() {
		s.Options.CompressionMode = wsx.CompressionNoContextTakeover
	}
	if err := s.Serve(context.Background(), ln); err != nil {
		srv.Fatal(err)
	}
}
