// Command wsx is the wsx echo server of the comparison: a plain listener,
// wsx.Upgrade for the handshake, and a goroutine per connection running a
// loop of AppendMessage into a reused buffer and Write.
package main

import (
	"context"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/bench/internal/srv"
)

func main() {
	ln := srv.Listen()
	opts := &wsx.AcceptOptions{}
	if srv.Compress() {
		opts.CompressionMode = wsx.CompressionNoContextTakeover
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			srv.Fatal(err)
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, _, err := wsx.Upgrade(ctx, nc, opts)
			cancel()
			if err != nil {
				return
			}
			// A goroutine of its own starts with the smallest stack,
			// which the handshake would have grown.
			go echo(c)
		}()
	}
}

func echo(c *wsx.Conn) {
	defer c.CloseNow()
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
