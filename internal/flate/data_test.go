package flate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/wsx-go/wsx/internal/test/strictflate"
)

// Payloads shaped like WebSocket traffic, deterministic for a seed.

func jsonLike(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	events := []string{"message", "typing", "presence", "join", "leave", "reaction"}
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":%q,"event":%q,"ts":%d,"seq":%d,"room":"room-%d","ok":%t,"score":%.3f,"text":%q}`,
			r.IntN(1e9), users[r.IntN(len(users))], events[r.IntN(len(events))],
			int64(1700000000000)+int64(r.IntN(1e9)), i, r.IntN(50), r.IntN(2) == 0, r.Float64()*100,
			string(englishLike(20+r.IntN(60), seed+uint64(i))))
	}
	return b.Bytes()[:n]
}

var words = []string{"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by",
	"on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
	"were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
	"who", "so", "no", "connection", "message", "server", "client", "frame", "window", "compression", "protocol",
	"network", "latency", "buffer", "stream", "handshake", "extension", "browser", "socket", "payload", "context"}

func englishLike(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, 0, n+16)
	start := true
	for len(b) < n {
		// Roughly Zipf: small indexes are much more likely.
		w := words[int(float64(len(words))*r.Float64()*r.Float64()*r.Float64())]
		if start {
			b = append(b, w[0]-'a'+'A')
			b = append(b, w[1:]...)
			start = false
		} else {
			b = append(b, w...)
		}
		switch r.IntN(12) {
		case 0:
			b = append(b, ". "...)
			start = true
		case 1:
			b = append(b, ", "...)
		default:
			b = append(b, ' ')
		}
	}
	return b[:n]
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func repeated(n int) []byte {
	return bytes.Repeat([]byte{'a'}, n)
}

// binaryish mixes short repeats, counters and noise, to exercise matches of
// every length and distance.
func binaryish(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 4))
	b := make([]byte, 0, n)
	for len(b) < n {
		switch r.IntN(4) {
		case 0:
			b = append(b, randomBytes(1+r.IntN(40), r.Uint64())...)
		case 1:
			if len(b) > 0 {
				d := 1 + r.IntN(len(b))
				l := 3 + r.IntN(300)
				for range l {
					b = append(b, b[len(b)-d])
				}
			}
		case 2:
			b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
		case 3:
			b = append(b, bytes.Repeat([]byte{byte(r.Uint32())}, 1+r.IntN(20))...)
		}
	}
	return b[:n]
}

// encodeMessages compresses each message, handing it to Write in chunks of
// at most chunk bytes (all at once if chunk ≤ 0).
func encodeMessages(e *Encoder, msgs [][]byte, takeover []bool, chunk int) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		var dst []byte
		for len(m) > 0 {
			n := len(m)
			if chunk > 0 && n > chunk {
				n = chunk
			}
			dst = e.Write(dst, m[:n])
			m = m[n:]
		}
		out[i] = e.Finish(dst, takeover[i])
	}
	return out
}

// seen is what the strict decoder reported over all messages.
type seen struct {
	longest int    // the longest distance
	blocks  [3]int // per BTYPE, including the empty stored block ending each message
}

// verify decodes the compressed messages twice: as one stream through
// compress/flate, the way a permessage-deflate receiver with context takeover
// does, and through the strict test decoder, which also checks that no
// distance exceeds 2^windowBits-1 and that no message reaches back past a
// message finished without takeover.
func verify(windowBits int, msgs [][]byte, takeover []bool, compressed [][]byte) (*seen, error) {
	var stream []byte
	var want []byte
	for i, c := range compressed {
		stream = append(stream, c...)
		stream = append(stream, 0, 0, 0xff, 0xff)
		want = append(want, msgs[i]...)
	}
	stream = append(stream, 1, 0, 0, 0xff, 0xff)
	r := flate.NewReader(bytes.NewReader(stream))
	got, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("compress/flate: %w", err)
	}
	if !bytes.Equal(got, want) {
		return nil, fmt.Errorf("compress/flate decoded %d bytes that differ from the %d written (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}

	// The decoder allows distances up to the whole window, 2^windowBits;
	// the encoder promises one less.
	d := strictflate.New(windowBits)
	f := &seen{}
	prevTakeover := true
	for i, c := range compressed {
		res, err := d.Message(c, prevTakeover)
		if err != nil {
			return f, fmt.Errorf("message %d: %w", i, err)
		}
		if res.Longest > 1<<windowBits-1 {
			return f, fmt.Errorf("message %d: distance %d beyond the window (max %d)", i, res.Longest, 1<<windowBits-1)
		}
		f.longest = max(f.longest, res.Longest)
		for t, n := range res.Blocks {
			f.blocks[t] += n
		}
		if !bytes.Equal(res.Data, msgs[i]) {
			return f, fmt.Errorf("message %d: strict decoder decoded %d bytes that differ from the %d written (first difference at %d)", i, len(res.Data), len(msgs[i]), firstDiff(res.Data, msgs[i]))
		}
		prevTakeover = takeover[i]
	}
	return f, nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
