//go:build !unix

package wsx

import "net"

// rawReader is not available on this platform: connections keep their read
// buffer while idle.
type rawReader struct{}

func newRawReader(net.Conn, *bufReader) *rawReader { return nil }

func (*rawReader) read() (int, error) { panic("unreachable") }
