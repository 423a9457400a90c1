// Package srv holds what the echo servers of the comparison share: their
// flags and how they announce their address.
package srv

import (
	"flag"
	"fmt"
	"net"
	"os"
)

var (
	addr     = flag.String("addr", "127.0.0.1:0", "`address` to listen on (port 0 picks a free port)")
	compress = flag.Bool("compress", false, "accept permessage-deflate, without context takeover, where the library supports it")
)

// Compress reports whether -compress was given. Call it after Listen.
func Compress() bool { return *compress }

// Listen parses the flags, listens on -addr and prints the URL clients use,
// "listening on ws://ADDR/", which the comparison waits for.
func Listen() net.Listener {
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		Fatal(err)
	}
	Announce(ln.Addr())
	return ln
}

// Addr parses the flags and returns -addr, for servers that listen by
// themselves; they call Announce once listening.
func Addr() string {
	flag.Parse()
	return *addr
}

// Announce prints the URL of a server listening on a.
func Announce(a net.Addr) {
	fmt.Printf("listening on ws://%s/\n", a)
}

// Fatal reports err and exits.
func Fatal(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
