package flate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// FuzzEncoder compresses fuzzer-chosen data, cut into messages and Write
// calls at seed-chosen points, with a seed-chosen window, level and
// takeover per message, and checks that compress/flate decodes the stream
// exactly and that the strict inflater finds every distance within the
// window and within the history each message may use.
func FuzzEncoder(f *testing.F) {
	f.Add([]byte("Hello"), uint8(15), uint8(0), uint64(0), uint8(0))
	f.Add([]byte(`{"id":1,"user":"alice","event":"message","text":"hi"}`), uint8(8), uint8(1), uint64(1), uint8(3))
	f.Add([]byte("abcabcabcabcabcabcabcabcabcabc"), uint8(9), uint8(6), uint64(2), uint8(200))
	f.Add(randomBytes(300, 1), uint8(12), uint8(9), uint64(3), uint8(255))
	f.Add(jsonLike(2000, 2), uint8(10), uint8(4), uint64(4), uint8(40))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(14), uint8(3), uint64(5), uint8(100))
	f.Fuzz(func(t *testing.T, data []byte, wb, level uint8, seed uint64, repeat uint8) {
		if err := fuzzOne(data, wb, level, seed, repeat); err != nil {
			t.Fatal(err)
		}
	})
}

func fuzzOne(data []byte, wb, level uint8, seed uint64, repeat uint8) error {
	windowBits := 8 + int(wb)%8
	lvl := int(level) % 10
	r := rand.New(rand.NewPCG(seed, uint64(len(data))))

	// Repeating the input, up to about 200 KiB, reaches the code
	// paths of long streams: sliding, chunks that join a block,
	// matches across chunks and messages.
	in := data
	if repeat > 0 && len(data) > 0 {
		n := min(int(repeat), 200<<10/len(data))
		in = bytes.Repeat(data, n+1)
	}

	var msgs [][]byte
	var takeover []bool
	for len(in) > 0 || len(msgs) == 0 {
		n := len(in)
		if r.IntN(3) > 0 && n > 0 {
			n = r.IntN(n + 1)
		}
		msgs = append(msgs, in[:n])
		takeover = append(takeover, r.IntN(4) > 0)
		in = in[n:]
	}

	e := NewEncoder(windowBits, lvl)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		var dst []byte
		for len(m) > 0 {
			n := len(m)
			switch r.IntN(4) {
			case 0:
				n = min(n, 1+r.IntN(16))
			case 1:
				n = min(n, 1+r.IntN(chunkSize+chunkSize/2))
			}
			dst = e.Write(dst, m[:n])
			m = m[n:]
		}
		out[i] = e.Finish(dst, takeover[i])
	}
	if _, err := verify(windowBits, msgs, takeover, out); err != nil {
		return fmt.Errorf("window bits %d, level %d, %d messages: %w", windowBits, lvl, len(msgs), err)
	}
	return nil
}
