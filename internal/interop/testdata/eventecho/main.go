// Command eventecho is an echo server on wsx.EventServer for the interop
// tests: it prints "wsx: echo server listening on ws://ADDR/" as wsx serve
// does, echoes every message, and on SIGINT or SIGTERM closes its
// connections with 1001 and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsx-go/wsx"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	compression := flag.Bool("compression", true, "accept permessage-deflate without context takeover")
	limit := flag.Int64("max-message-size", 0, "read limit in bytes; 0 is the default")
	origin := flag.String("origin", "", "an origin pattern browsers may connect from")
	flag.Parse()

	s := &wsx.EventServer{
		Options: wsx.AcceptOptions{ReadLimit: *limit},
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.Write(ctx, typ, msg)
		},
	}
	if *compression {
		// Every message compressed, as wsx serve does: libwebsockets up
		// to 4.3 stalls on an uncompressed one once compression is on.
		s.Options.CompressionMode = wsx.CompressionNoContextTakeover
		s.Options.CompressionThreshold = -1
	}
	if *origin != "" {
		s.Options.OriginPatterns = []string{*origin}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wsx: echo server listening on ws://%s/\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
