package wsx

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// benchUpgradeCases are handshakes as a minimal client and as a browser
// send them, the latter answered with a subprotocol and compression.
var benchUpgradeCases = []struct {
	name    string
	request string
	opts    *AcceptOptions
}{
	{"minimal", "GET / HTTP/1.1\r\n" +
		"Host: 127.0.0.1:9000\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n", nil},
	{"browser", chromeRequest, &AcceptOptions{
		Subprotocols:    []string{"chat"},
		OriginPatterns:  []string{"*.example.com"},
		CompressionMode: CompressionContextTakeover,
	}},
}

// BenchmarkUpgrade measures wsx.Upgrade on a handshake and closing the
// connection: over net.Pipe with a client that sends the request and reads
// the response ("pipe"), and over a connection that only hands the request
// over and drops what is written ("mem"), which leaves Upgrade's own
// cost.
func BenchmarkUpgrade(b *testing.B) {
	for _, bc := range benchUpgradeCases {
		b.Run("pipe/"+bc.name, func(b *testing.B) {
			req := []byte(bc.request)
			resp := make([]byte, 4096)
			done := make(chan error, 1)
			b.ReportAllocs()
			for b.Loop() {
				srv, cl := net.Pipe()
				go func() {
					if _, err := cl.Write(req); err != nil {
						done <- err
						return
					}
					n := 0
					for !bytes.Contains(resp[:n], []byte("\r\n\r\n")) {
						m, err := cl.Read(resp[n:])
						n += m
						if err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				c, _, err := Upgrade(context.Background(), srv, bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				c.CloseNow()
				cl.Close()
			}
		})
		b.Run("mem/"+bc.name, func(b *testing.B) {
			nc := &requestConn{request: []byte(bc.request)}
			b.ReportAllocs()
			for b.Loop() {
				nc.off = 0
				c, _, err := Upgrade(context.Background(), nc, bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				c.CloseNow()
			}
		})
	}
}

// requestConn is a net.Conn that reads a request and then the end of the
// input, and drops what is written to it.
type requestConn struct {
	request []byte
	off     int
}

var requestConnAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (c *requestConn) Read(p []byte) (int, error) {
	if c.off == len(c.request) {
		return 0, io.EOF
	}
	n := copy(p, c.request[c.off:])
	c.off += n
	return n, nil
}

func (c *requestConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *requestConn) Close() error                       { return nil }
func (c *requestConn) LocalAddr() net.Addr                { return requestConnAddr }
func (c *requestConn) RemoteAddr() net.Addr               { return requestConnAddr }
func (c *requestConn) SetDeadline(t time.Time) error      { return nil }
func (c *requestConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *requestConn) SetWriteDeadline(t time.Time) error { return nil }
