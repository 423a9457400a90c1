package wsx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"
)

// dflPair returns a server and a client Conn joined by loopback TCP, with
// the given permessage-deflate configurations (nil for none). The
// configurations are given from each side's point of view.
func dflPair(t *testing.T, srv, cli *deflateConfig) (s, c *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	cnc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	snc := <-accepted
	if snc == nil {
		t.Fatal("accept failed")
	}
	s = newConn(snc, false, nil, "", connConfig{})
	c = newConn(cnc, true, nil, "", connConfig{})
	if srv != nil {
		s.deflate = newDeflateState(s, *srv, 0, -1)
	}
	if cli != nil {
		c.deflate = newDeflateState(c, *cli, 0, -1)
	}
	t.Cleanup(func() { s.CloseNow(); c.CloseNow() })
	return s, c
}

// dflPayload returns n bytes that compress well or, if random, not at all.
func dflPayload(n int, random bool, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	if random {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	words := []string{"alpha", "beta", "gamma", "delta", `{"id":`, "}, ", "\n", "wsx ", "deflate "}
	for i := 0; i < n; {
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

func TestDeflateRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 65535, 65536, 1 << 20}
	for _, bits := range []int{8, 9, 10, 11, 12, 13, 14, 15} {
		for _, takeover := range []bool{false, true} {
			cfg := deflateConfig{writeTakeover: takeover, writeBits: bits, readTakeover: takeover, readBits: bits}
			name := fmt.Sprintf("bits=%d/takeover=%v", bits, takeover)
			t.Run(name, func(t *testing.T) {
				s, c := dflPair(t, &cfg, &cfg)
				ctx := context.Background()
				go dflEcho(s)
				seed := uint64(bits)
				for _, n := range sizes {
					if n == 1<<20 && bits != 8 && bits != 15 {
						continue
					}
					for _, random := range []bool{false, true} {
						p := dflPayload(n, random, seed)
						seed++
						typ := MessageBinary
						if !random {
							typ = MessageText
						}
						if err := c.Write(ctx, typ, p); err != nil {
							t.Fatal(err)
						}
						gt, got, err := c.Read(ctx)
						if err != nil || gt != typ || !bytes.Equal(got, p) {
							t.Fatalf("size %d random %v: got %v %d bytes, %v", n, random, gt, len(got), err)
						}
					}
				}
				// Fragmented, with pings between the fragments.
				w, err := c.Writer(ctx, MessageText)
				if err != nil {
					t.Fatal(err)
				}
				var want []byte
				for i := 0; i < 20; i++ {
					p := dflPayload(3000+i, false, uint64(i))
					want = append(want, p...)
					if _, err := w.Write(p); err != nil {
						t.Fatal(err)
					}
					if err := c.writeControl(ctx, opPing, []byte("between")); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				_, got, err := c.Read(ctx)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("fragmented: %d bytes, %v", len(got), err)
				}
				if err := c.Close(StatusNormalClosure, ""); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// dflEcho echoes messages with the streaming API until an error.
func dflEcho(c *Conn) error {
	ctx := context.Background()
	buf := make([]byte, 4096)
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(w, r, buf); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
}

// dflRaw returns a server Conn and the raw client end of its TCP
// connection, so tests can see and forge the bytes on the wire.
func dflRaw(t *testing.T, cfg *deflateConfig) (*Conn, net.Conn) {
	t.Helper()
	s, c := dflPair(t, cfg, nil)
	return s, c.nc
}

func readN(t *testing.T, nc net.Conn, n int) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(nc, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// maskFrame masks the payload of an unmasked single-header frame with a
// fixed key, as a client must send it.
func maskFrame(f []byte) []byte {
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	hl := 2
	switch f[1] & 0x7f {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	out := append([]byte{}, f[:hl]...)
	out[1] |= 0x80
	out = append(out, key...)
	for i, b := range f[hl:] {
		out = append(out, b^key[i%4])
	}
	return out
}

// TestDeflateRFC7692Examples checks the worked examples of RFC 7692
// §7.2.3 byte for byte, in both directions.
func TestDeflateRFC7692Examples(t *testing.T) {
	ctx := context.Background()
	noCT := deflateConfig{writeBits: 15, readBits: 15}
	ct := deflateConfig{writeTakeover: true, writeBits: 15, readTakeover: true, readBits: 15}
	hello := []byte("Hello")

	t.Run("compressed Hello", func(t *testing.T) {
		s, raw := dflRaw(t, &noCT)
		if err := s.Write(ctx, MessageText, hello); err != nil {
			t.Fatal(err)
		}
		want := []byte{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
		if got := readN(t, raw, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("wire % x, want % x", got, want)
		}
	})
	t.Run("context takeover", func(t *testing.T) {
		s, raw := dflRaw(t, &ct)
		s.Write(ctx, MessageText, hello)
		s.Write(ctx, MessageText, hello)
		want := []byte{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}
		if got := readN(t, raw, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("wire % x, want % x", got, want)
		}
	})
	reads := []struct {
		name   string
		cfg    deflateConfig
		frames [][]byte
		want   []string
	}{
		{"one frame", noCT, [][]byte{{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}, []string{"Hello"}},
		{"fragmented", noCT, [][]byte{{0x41, 0x03, 0xf2, 0x48, 0xcd}, {0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00}}, []string{"Hello"}},
		{"uncompressed block", noCT, [][]byte{{0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}}, []string{"Hello"}},
		{"takeover", ct, [][]byte{{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, {0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}}, []string{"Hello", "Hello"}},
		{"final block (BFINAL)", noCT, [][]byte{{0xc1, 0x07, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, {0xc1, 0x07, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}, []string{"Hello", "Hello"}},
		{"uncompressed message", ct, [][]byte{{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}}, []string{"Hello"}},
	}
	for _, tt := range reads {
		t.Run("read "+tt.name, func(t *testing.T) {
			s, raw := dflRaw(t, &tt.cfg)
			for _, f := range tt.frames {
				raw.Write(maskFrame(f))
			}
			for _, want := range tt.want {
				typ, got, err := s.Read(ctx)
				if err != nil || typ != MessageText || string(got) != want {
					t.Fatalf("got %v %q %v, want %q", typ, got, err, want)
				}
			}
		})
	}
}

// dflWantClose reads frames from raw until a close frame and checks its
// code.
func dflWantClose(t *testing.T, raw net.Conn, code StatusCode) {
	t.Helper()
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, _ := io.ReadAll(raw)
	for len(all) >= 2 {
		op := opcode(all[0] & 0x0f)
		n := int(all[1] & 0x7f)
		hl := 2
		switch n {
		case 126:
			n = int(all[2])<<8 | int(all[3])
			hl = 4
		case 127:
			t.Fatalf("unexpected huge frame")
		}
		if len(all) < hl+n {
			break
		}
		if op == opClose {
			p := all[hl : hl+n]
			if len(p) < 2 || StatusCode(int(p[0])<<8|int(p[1])) != code {
				t.Fatalf("close payload % x, want code %d", p, code)
			}
			return
		}
		all = all[hl+n:]
	}
	t.Fatalf("no close frame with code %d", code)
}

func TestDeflateProtocolErrors(t *testing.T) {
	noCT := deflateConfig{writeBits: 15, readBits: 15}
	tests := []struct {
		name   string
		cfg    *deflateConfig
		frames [][]byte
		code   StatusCode
		kind   error
	}{
		{"RSV1 without negotiation", nil, [][]byte{{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}, StatusProtocolError, ErrProtocol},
		{"compressed ping", &noCT, [][]byte{{0xc9, 0x00}}, StatusProtocolError, ErrProtocol},
		{"compressed close", &noCT, [][]byte{{0xc8, 0x02, 0x03, 0xe8}}, StatusProtocolError, ErrProtocol},
		{"RSV1 on continuation", &noCT, [][]byte{{0x41, 0x03, 0xf2, 0x48, 0xcd}, {0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00}}, StatusProtocolError, ErrProtocol},
		{"RSV2", &noCT, [][]byte{{0xa1, 0x00}}, StatusProtocolError, ErrProtocol},
		{"corrupt data", &noCT, [][]byte{{0xc2, 0x03, 0xff, 0xff, 0xff}}, StatusInvalidFramePayloadData, ErrProtocol},
		{"invalid UTF-8 inside", &noCT, [][]byte{{0xc1, 0x08, 0x00, 0x02, 0x00, 0xfd, 0xff, 0xc3, 0x28, 0x00}}, StatusInvalidFramePayloadData, ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, raw := dflRaw(t, tt.cfg)
			for _, f := range tt.frames {
				raw.Write(maskFrame(f))
			}
			_, _, err := s.Read(context.Background())
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Read error %v, want %v", err, tt.kind)
			}
			dflWantClose(t, raw, tt.code)
		})
	}
}

// TestDeflateBomb sends a small message that inflates far past the read
// limit: the connection must fail with 1009 without holding the inflated
// data.
func TestDeflateBomb(t *testing.T) {
	noCT := deflateConfig{writeBits: 15, readBits: 15}
	_, c := dflPair(t, nil, &noCT)
	s, raw := dflRaw(t, &noCT)
	_ = c
	// 64 MiB of zeros compressed with our own encoder: about 64 KiB.
	enc := s.deflate.encoder()
	var comp []byte
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		comp = enc.Write(comp, zeros)
	}
	comp = enc.Finish(comp, false)
	if len(comp) > 1<<17 {
		t.Fatalf("bomb is %d bytes", len(comp))
	}
	s.SetReadLimit(1 << 20)
	frame := []byte{0xc2, 127, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := 0; i < 8; i++ {
		frame[2+i] = byte(uint64(len(comp)) >> (56 - 8*i))
	}
	frame = append(frame, comp...)
	go func() { raw.Write(maskFrame(frame)) }()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, r, err := s.Reader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("after %d bytes: %v, want ErrMessageTooBig", n, err)
	}
	if n > 1<<20 {
		t.Fatalf("delivered %d bytes past the 1 MiB limit", n)
	}
	if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 8<<20 {
		t.Fatalf("allocated %d bytes while inflating", grew)
	}
	dflWantClose(t, raw, StatusMessageTooBig)
}
