package wsx

// Micro-benchmarks that complete bench_test.go: UTF-8 validation at the
// message sizes of the comparison in bench/, masking at unaligned
// positions, reads of text messages, reads from a buffer that holds many
// frames at once (what a server with several messages in flight per
// connection sees), and a whole server or client echo step (AppendMessage
// and Write) on an in-memory connection, which must not allocate.

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"unicode/utf8"
)

// microText returns n bytes of valid UTF-8: plain ASCII, or text where
// most characters take two to four bytes.
func microText(n int, multibyte bool) []byte {
	sample := "The quick brown fox jumps over the lazy dog. "
	if multibyte {
		sample = "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. いろはにほへと 😀. "
	}
	var b []byte
	for len(b) < n {
		for _, r := range sample {
			if len(b)+utf8.RuneLen(r) > n {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		if len(b)+4 > n {
			for len(b) < n {
				b = append(b, '.')
			}
		}
	}
	return b[:n]
}

func BenchmarkUTF8Sizes(b *testing.B) {
	for _, n := range ioSizes {
		for _, kind := range []string{"ascii", "multibyte"} {
			p := microText(n, kind == "multibyte")
			if !utf8.Valid(p) {
				b.Fatal("invalid sample text")
			}
			b.Run(sizeName(n)+"/"+kind+"/validator", func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					var v utf8Validator
					if !v.write(p) || !v.done() {
						b.Fatal("invalid")
					}
				}
			})
			b.Run(sizeName(n)+"/"+kind+"/utf8.Valid", func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if !utf8.Valid(p) {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}

// BenchmarkMaskUnaligned masks a payload that starts one byte into its
// buffer and three bytes into the key, as a payload that follows a header
// in the read buffer does.
func BenchmarkMaskUnaligned(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			buf := make([]byte, n+1)
			p := buf[1:]
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				mask(0x12345678, 3, p)
			}
		})
	}
}

// microFrames returns count frames, each carrying p as a message of type
// typ, as a peer sends them to a connection of the given role.
func microFrames(typ MessageType, p []byte, toClient bool, count int) []byte {
	op := byte(opBinary)
	if typ == MessageText {
		op = byte(opText)
	}
	var frames []byte
	for range count {
		frames = appendFrame(frames, true, op, !toClient, [4]byte{1, 2, 3, 4}, p)
	}
	return frames
}

// BenchmarkReadText reads text messages, whose UTF-8 is checked, on an
// in-memory connection; BenchmarkRead/mem reads binary ones.
func BenchmarkReadText(b *testing.B) {
	for _, role := range ioRoles {
		for _, n := range ioSizes {
			b.Run(role.name+"/"+sizeName(n), func(b *testing.B) {
				frames := microFrames(MessageText, microText(n, false), role.client, 1)
				c := newConn(&loopConn{data: frames}, role.client, nil, "", connConfig{readLimit: -1})
				defer c.CloseNow()
				ctx := context.Background()
				buf := make([]byte, 0, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					typ, p, err := c.AppendMessage(ctx, buf[:0])
					if err != nil || typ != MessageText || len(p) != n {
						b.Fatalf("read %v %d bytes, %v", typ, len(p), err)
					}
					buf = p
				}
			})
		}
	}
}

// BenchmarkReadBatch reads messages that arrive 8 or 64 at a time: one
// read of the connection returns all of their frames, so what is measured
// is the cost per frame once the bytes are in the buffer.
func BenchmarkReadBatch(b *testing.B) {
	for _, n := range ioSizes[:2] {
		for _, batch := range []int{8, 64} {
			b.Run(fmt.Sprintf("server/%s/%d", sizeName(n), batch), func(b *testing.B) {
				frames := microFrames(MessageBinary, bytes.Repeat([]byte{'x'}, n), false, batch)
				c := newConn(&loopConn{data: frames}, false, nil, "", connConfig{readLimit: -1})
				defer c.CloseNow()
				ctx := context.Background()
				buf := make([]byte, 0, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					_, p, err := c.AppendMessage(ctx, buf[:0])
					if err != nil || len(p) != n {
						b.Fatalf("read %d bytes, %v", len(p), err)
					}
					buf = p
				}
			})
		}
	}
}

// BenchmarkEchoStep is one turn of an echo loop, AppendMessage into a
// reused buffer and Write of what was read, on an in-memory connection
// whose reads replay 1 or 8 frames and whose writes are discarded: the
// work wsx does per echoed message, without the kernel's.
func BenchmarkEchoStep(b *testing.B) {
	for _, role := range ioRoles {
		for _, typ := range []MessageType{MessageBinary, MessageText} {
			for _, n := range ioSizes {
				for _, batch := range []int{1, 8} {
					name := fmt.Sprintf("%s/%v/%s/batch%d", role.name, typ, sizeName(n), batch)
					b.Run(name, func(b *testing.B) {
						frames := microFrames(typ, microText(n, false), role.client, batch)
						c := newConn(&loopConn{data: frames}, role.client, nil, "", connConfig{readLimit: -1})
						defer c.CloseNow()
						ctx := context.Background()
						buf := make([]byte, 0, n)
						b.SetBytes(int64(n))
						b.ReportAllocs()
						for b.Loop() {
							got, p, err := c.AppendMessage(ctx, buf[:0])
							if err != nil || got != typ || len(p) != n {
								b.Fatalf("read %v %d bytes, %v", got, len(p), err)
							}
							buf = p
							if err := c.Write(ctx, got, p); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}
