package wsx

// Two kinds of connection carry the Read and Write benchmarks:
//
//   - "mem": an in-memory net.Conn that discards what is written and
//     replays one recorded stream of frames for reading. It measures wsx's
//     own work (framing, masking, UTF-8, locking, buffer pools) and nothing
//     of the kernel. Since it is not a *net.TCPConn, reads take the portable
//     path (a pooled buffer and net.Conn.Read) rather than the raw
//     file-descriptor path of read_unix.go.
//   - "tcp": a loopback TCP connection with a peer goroutine draining or
//     feeding it. It measures what an application sees, system calls
//     included, and covers the raw read path; on a small machine the peer
//     competes for the same cores, so its numbers are noisier.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var benchSizes = []int{16, 1 << 10, 64 << 10, 1 << 20}

func BenchmarkMask(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			p := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			pos := 0
			for b.Loop() {
				pos = mask(0x12345678, pos, p)
			}
		})
	}
}

func BenchmarkMaskCopy(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			src, dst := make([]byte, n), make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				maskCopy(dst, src, 0x12345678, 1)
			}
		})
	}
}

// BenchmarkCopy is the yardstick for BenchmarkMask and BenchmarkMaskCopy:
// masking cannot be faster than memmove, and should not be much slower.
func BenchmarkCopy(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			src, dst := make([]byte, n), make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

// BenchmarkMaskNaive shows what the 8-bytes-at-a-time loop saves.
func BenchmarkMaskNaive(b *testing.B) {
	for _, n := range benchSizes[:3] {
		b.Run(sizeName(n), func(b *testing.B) {
			p := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				naiveMask(0x12345678, 0, p)
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func BenchmarkHeaderEncode(b *testing.B) {
	hs := []struct {
		name string
		h    header
	}{
		{"7bit", header{fin: true, opcode: opText, length: 100}},
		{"16bit_masked", header{fin: true, opcode: opBinary, masked: true, key: 0xdeadbeef, length: 1000}},
		{"64bit_masked", header{fin: true, opcode: opBinary, masked: true, key: 0xdeadbeef, length: 1 << 20}},
	}
	for _, tc := range hs {
		b.Run(tc.name, func(b *testing.B) {
			var buf [maxHeaderSize]byte
			b.ReportAllocs()
			for b.Loop() {
				putHeader(buf[:], &tc.h)
			}
		})
	}
}

func BenchmarkHeaderDecode(b *testing.B) {
	wires := []struct{ name, wire string }{
		{"7bit", "\x81\x64"},
		{"16bit_masked", "\x82\xfe\x03\xe8\xde\xad\xbe\xef"},
		{"64bit_masked", "\x82\xff\x00\x00\x00\x00\x00\x10\x00\x00\xde\xad\xbe\xef"},
	}
	for _, tc := range wires {
		b.Run(tc.name, func(b *testing.B) {
			wire := []byte(tc.wire)
			var h header
			b.ReportAllocs()
			for b.Loop() {
				n := headerSize(wire[0], wire[1])
				if _, err := parseHeader(wire[:n], &h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUTF8 compares the streaming validator, fed whole and in 100-byte
// pieces, with utf8.Valid on the whole text.
func BenchmarkUTF8(b *testing.B) {
	texts := []struct{ name, text string }{
		{"ascii", strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1500)},
		{"multibyte", strings.Repeat("Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. いろはにほへと 😀. ", 600)},
	}
	for _, tc := range texts {
		p := []byte(tc.text)
		b.Run(tc.name+"/validator", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				var v utf8Validator
				if !v.write(p) || !v.done() {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(tc.name+"/validator_pieces", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				var v utf8Validator
				for rest := p; len(rest) > 0; {
					k := min(100, len(rest))
					if !v.write(rest[:k]) {
						b.Fatal("invalid")
					}
					rest = rest[k:]
				}
			}
		})
		b.Run(tc.name+"/utf8.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if !utf8.Valid(p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// loopConn is an in-memory net.Conn: reads replay data from the start
// forever, writes are discarded.
type loopConn struct {
	data []byte
	off  int
}

func (c *loopConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

func (c *loopConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *loopConn) Close() error                       { return nil }
func (c *loopConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *loopConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *loopConn) SetDeadline(t time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(t time.Time) error { return nil }

var (
	ioSizes = []int{16, 1 << 10, 64 << 10}
	ioRoles = []struct {
		name   string
		client bool
	}{{"server", false}, {"client", true}}
)

// framesFor returns one frame carrying p as a peer of role client would
// receive it: masked when the receiver is a server.
func framesFor(p []byte, receiverIsClient bool) []byte {
	return appendFrame(nil, true, byte(opBinary), !receiverIsClient, [4]byte{1, 2, 3, 4}, p)
}

func BenchmarkWrite(b *testing.B) {
	for _, conn := range []string{"mem", "tcp"} {
		for _, role := range ioRoles {
			for _, n := range ioSizes {
				b.Run(fmt.Sprintf("%s/%s/%s", conn, role.name, sizeName(n)), func(b *testing.B) {
					var c *Conn
					if conn == "mem" {
						c = newConn(&loopConn{}, role.client, nil, "", connConfig{readLimit: -1})
					} else {
						nc, stop := tcpPeer(b, func(peer net.Conn) { io.Copy(io.Discard, peer) })
						defer stop()
						c = newConn(nc, role.client, nil, "", connConfig{readLimit: -1})
					}
					defer c.CloseNow()
					p := bytes.Repeat([]byte{'x'}, n)
					ctx := context.Background()
					b.SetBytes(int64(n))
					b.ReportAllocs()
					for b.Loop() {
						if err := c.Write(ctx, MessageBinary, p); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkRead(b *testing.B) {
	for _, conn := range []string{"mem", "tcp"} {
		for _, role := range ioRoles {
			for _, n := range ioSizes {
				b.Run(fmt.Sprintf("%s/%s/%s", conn, role.name, sizeName(n)), func(b *testing.B) {
					frame := framesFor(bytes.Repeat([]byte{'x'}, n), role.client)
					var c *Conn
					if conn == "mem" {
						c = newConn(&loopConn{data: frame}, role.client, nil, "", connConfig{readLimit: -1})
					} else {
						// The peer writes many frames per system call.
						batch := bytes.Repeat(frame, max(1, (256<<10)/len(frame)))
						nc, stop := tcpPeer(b, func(peer net.Conn) {
							for {
								if _, err := peer.Write(batch); err != nil {
									return
								}
							}
						})
						defer stop()
						c = newConn(nc, role.client, nil, "", connConfig{readLimit: -1})
					}
					defer c.CloseNow()
					ctx := context.Background()
					buf := make([]byte, 0, n)
					b.SetBytes(int64(n))
					b.ReportAllocs()
					for b.Loop() {
						_, p, err := c.AppendMessage(ctx, buf[:0])
						if err != nil {
							b.Fatal(err)
						}
						if len(p) != n {
							b.Fatalf("read %d bytes, want %d", len(p), n)
						}
						buf = p
					}
				})
			}
		}
	}
}

// tcpPeer connects a loopback TCP pair and runs peer on the far end until
// the near end is closed. stop closes both and waits for peer.
func tcpPeer(b *testing.B, peer func(net.Conn)) (net.Conn, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		pc, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- pc
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	pc := <-accepted
	if pc == nil {
		nc.Close()
		b.Fatal("accept failed")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		peer(pc)
	}()
	return nc, func() {
		nc.Close()
		pc.Close()
		wg.Wait()
	}
}

// BenchmarkEcho measures round trips between a Dial client and an Accept
// server over loopback TCP, one message in flight, both sides reusing
// their buffers.
func BenchmarkEcho(b *testing.B) {
	for _, n := range ioSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			served := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(served)
				c, err := Accept(w, r, nil)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.CloseNow()
				echoLoop(c)
			}))
			defer srv.Close()
			ctx := context.Background()
			c, _, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			p := bytes.Repeat([]byte{'x'}, n)
			buf := make([]byte, 0, n)
			b.SetBytes(int64(2 * n))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Write(ctx, MessageBinary, p); err != nil {
					b.Fatal(err)
				}
				_, got, err := c.AppendMessage(ctx, buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != n {
					b.Fatalf("echo of %d bytes, want %d", len(got), n)
				}
				buf = got
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				b.Fatal(err)
			}
			<-served
		})
	}
}
