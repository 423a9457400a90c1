package wsx

import (
	"bytes"
	stdflate "compress/flate"
	"context"
	"errors"
	"io"
	"testing"
)

// inflateOracle decompresses one message payload the way RFC 7692 §7.2.2
// describes, with compress/flate and nothing of ours, limited to limit+1
// bytes of output.
func inflateOracle(payload, dict []byte, limit int) ([]byte, error) {
	src := append(bytes.Clone(payload), deflateTail[:]...)
	r := stdflate.NewReaderDict(bytes.NewReader(src), dict)
	return io.ReadAll(io.LimitReader(r, int64(limit)+1))
}

// FuzzInflate feeds arbitrary bytes to a connection as the payload of two
// compressed messages, split into fragments, and checks that what Read
// returns is exactly what an independent decompression gives: the data,
// or a 1007 for data that does not decompress, or a 1009 for data that
// inflates past the read limit — never a panic, a hang or unbounded
// memory.
func FuzzInflate(f *testing.F) {
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	f.Add(hello, uint8(1), true, uint8(7))
	f.Add(hello, uint8(3), false, uint8(1))
	f.Add([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, uint8(2), true, uint8(64))
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xde, 0xad}, uint8(1), false, uint8(9))
	f.Add([]byte{0xff, 0xff, 0xff}, uint8(1), false, uint8(200))
	f.Add([]byte{}, uint8(0), true, uint8(3))
	// A small bomb: 256 KiB of zeros.
	bomb := stdflateCompress(make([]byte, 256<<10))
	f.Add(bomb, uint8(4), true, uint8(255))

	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, data []byte, frags uint8, takeover bool, chunk uint8) {
		if len(data) > 1<<16 {
			return
		}
		key := [4]byte{1, 2, 3, 4}
		var in []byte
		for msg := 0; msg < 2; msg++ {
			n := int(frags%5) + 1
			step := (len(data) + n - 1) / n
			if step == 0 {
				step = 1
			}
			first := true
			for off := 0; off < len(data) || first; off += step {
				end := min(off+step, len(data))
				op := byte(opContinuation)
				if first {
					op = byte(opBinary) | bitRsv1
				}
				in = appendFrame(in, end == len(data), op, true, key, data[off:end])
				first = false
			}
		}
		in = appendFrame(in, true, byte(opClose), true, key, []byte{0x03, 0xe8})

		nc := &scriptConn{in: in, chunk: int(chunk%64) + 1}
		c := newConn(nc, false, nil, "", connConfig{readLimit: limit})
		c.deflate = newDeflateState(c, deflateConfig{writeBits: 15, readTakeover: takeover, readBits: 15}, 0, 0)
		defer c.CloseNow()

		var dict []byte
		for msg := 0; msg < 2; msg++ {
			want, werr := inflateOracle(data, dict, limit)
			_, got, err := c.Read(context.Background())
			switch {
			case werr != nil:
				if !errors.Is(err, ErrProtocol) || c.readErr == nil {
					t.Fatalf("message %d: oracle failed (%v), Read returned %d bytes, %v", msg, werr, len(got), err)
				}
				return
			case len(want) > limit:
				if !errors.Is(err, ErrMessageTooBig) {
					t.Fatalf("message %d: %d bytes inflated, Read returned %d bytes, %v; want ErrMessageTooBig", msg, len(want), len(got), err)
				}
				return
			case err != nil || !bytes.Equal(got, want):
				t.Fatalf("message %d: Read returned %d bytes, %v; want %d bytes", msg, len(got), err, len(want))
			}
			if takeover {
				dict = append(dict, want...)
				if len(dict) > 1<<15 {
					dict = dict[len(dict)-1<<15:]
				}
			}
		}
		if _, _, err := c.Read(context.Background()); CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("after the messages: %v, want the peer's close", err)
		}
	})
}

func stdflateCompress(p []byte) []byte {
	var b bytes.Buffer
	w, _ := stdflate.NewWriter(&b, stdflate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}
