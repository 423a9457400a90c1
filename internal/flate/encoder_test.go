package flate

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/wsx-go/wsx/internal/test/leak"
)

func TestMain(m *testing.M) { leak.Main(m) }

// TestRFC7692Examples checks the worked examples of RFC 7692 §7.2.3.1 and
// §7.2.3.2 byte for byte, at every level and window size.
func TestRFC7692Examples(t *testing.T) {
	tests := []struct {
		name     string
		takeover bool
		want     []string
	}{
		{"takeover", true, []string{"f248cdc9c90700", "f200110000"}},
		{"no takeover", false, []string{"f248cdc9c90700", "f248cdc9c90700"}},
	}
	for _, tt := range tests {
		for level := 1; level <= 9; level++ {
			for wb := 8; wb <= 15; wb++ {
				e := NewEncoder(wb, level)
				for i, want := range tt.want {
					got := hex.EncodeToString(e.Finish(e.Write(nil, []byte("Hello")), tt.takeover))
					if got != want {
						t.Fatalf("%s, level %d, window bits %d, message %d: got %s, want %s", tt.name, level, wb, i, got, want)
					}
				}
			}
		}
	}
}

// TestEmptyMessage checks that an empty message is the single byte 0x00
// (RFC 7692 §7.2.3.6), also between other messages.
func TestEmptyMessage(t *testing.T) {
	e := NewEncoder(15, 0)
	if got := e.Finish(nil, true); !bytes.Equal(got, []byte{0}) {
		t.Fatalf("empty message: got %x, want 00", got)
	}
	msgs := [][]byte{[]byte("Hello"), nil, []byte("Hello"), {}}
	takeover := []bool{true, true, true, true}
	e.Reset()
	out := encodeMessages(e, msgs, takeover, 0)
	if !bytes.Equal(out[1], []byte{0}) || !bytes.Equal(out[3], []byte{0}) {
		t.Fatalf("empty messages after data: got %x and %x, want 00", out[1], out[3])
	}
	if _, err := verify(15, msgs, takeover, out); err != nil {
		t.Fatal(err)
	}
}

type payload struct {
	name string
	data []byte
}

func payloads() []payload {
	return []payload{
		{"one byte", []byte{'x'}},
		{"three bytes", []byte("abc")},
		{"json 1k", jsonLike(1<<10, 1)},
		{"json 64k", jsonLike(64<<10, 2)},
		{"english 20k", englishLike(20<<10, 3)},
		{"random 16k", randomBytes(16<<10, 4)},
		{"random 70k", randomBytes(70<<10, 5)},
		{"repeated 150k", repeated(150 << 10)},
		{"binaryish 100k", binaryish(100<<10, 6)},
		{"block size", binaryish(chunkSize, 7)},
		{"block size + 1", binaryish(chunkSize+1, 8)},
	}
}

// TestRoundTrip compresses each payload as a sequence of messages at every
// level and several window sizes and write chunkings, with and without
// context takeover, and decodes the result with compress/flate and with the
// strict inflater.
func TestRoundTrip(t *testing.T) {
	chunks := []int{0, 1, 1000, chunkSize, chunkSize + 7}
	for _, p := range payloads() {
		for level := 1; level <= 9; level++ {
			if raceEnabled && level != 1 && level != 2 && level != 6 && level != 9 {
				continue
			}
			for _, wb := range []int{8, 12, 15} {
				for _, takeover := range []bool{true, false} {
					chunk := chunks[(level+wb)%len(chunks)]
					if chunk == 1 && len(p.data) > 20000 {
						chunk = 1000 // one-byte writes of big payloads only slow the race detector
					}
					name := fmt.Sprintf("%s/level=%d/wb=%d/takeover=%t/chunk=%d", p.name, level, wb, takeover, chunk)
					// The same payload three times: the second and third
					// copies are where takeover pays.
					msgs := [][]byte{p.data, p.data, p.data[:len(p.data)/2]}
					tk := []bool{takeover, takeover, takeover}
					e := NewEncoder(wb, level)
					out := encodeMessages(e, msgs, tk, chunk)
					if _, err := verify(wb, msgs, tk, out); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					// Levels 1-3 probe ever fewer positions of data that
					// does not compress, so they index little of it.
					incompressible := level <= 3 && strings.HasPrefix(p.name, "random")
					if takeover && !incompressible && wb == 15 && len(p.data) >= 64 && len(p.data) < 1<<15-300 && len(out[0]) > 40 && len(out[1]) > len(out[0])/2 {
						t.Fatalf("%s: second copy of the message compressed to %d bytes; history was not used", name, len(out[1]))
					}
				}
			}
		}
	}
}

// TestWindowLimit repeats a random chunk at distances around each window
// size and checks that the encoder uses every distance the window allows
// and none beyond it.
func TestWindowLimit(t *testing.T) {
	chunk := randomBytes(64, 10)
	for wb := 8; wb <= 15; wb++ {
		w := 1 << wb
		for _, level := range []int{1, 2, 4, 6, 9} {
			for _, gap := range []int{w - 64 - 1, w - 64, w - 64 + 1, w - 64 + 5} {
				// chunk, gap bytes of noise, chunk again: the repeat is at
				// distance 64+gap.
				msg := append(append(append([]byte(nil), chunk...), randomBytes(gap, uint64(gap))...), chunk...)
				msgs := [][]byte{msg}
				tk := []bool{true}
				out := encodeMessages(NewEncoder(wb, level), msgs, tk, 0)
				f, err := verify(wb, msgs, tk, out)
				if err != nil {
					t.Fatalf("window bits %d, level %d, distance %d: %v", wb, level, 64+gap, err)
				}
				dist := 64 + gap
				reachable := dist <= w-1
				if reachable && level > 3 && f.longest != dist {
					t.Fatalf("window bits %d, level %d: repeat at distance %d within the window was not found (longest distance %d)", wb, level, dist, f.longest)
				}
				if !reachable && f.longest >= w {
					t.Fatalf("window bits %d, level %d: distance %d used", wb, level, f.longest)
				}
			}
		}
	}
}

// TestTakeoverAcrossMessages checks that matches reach into earlier messages
// with takeover and never without it, also once the history has slid past
// the buffer's start many times.
func TestTakeoverAcrossMessages(t *testing.T) {
	var msgs [][]byte
	for i := range 200 {
		msgs = append(msgs, jsonLike(300+i*37%2000, uint64(i%7)))
	}
	for _, level := range []int{1, 3, 5, 9} {
		for _, wb := range []int{8, 10, 15} {
			for _, takeover := range []bool{true, false} {
				tk := make([]bool, len(msgs))
				for i := range tk {
					tk[i] = takeover
				}
				e := NewEncoder(wb, level)
				out := encodeMessages(e, msgs, tk, 0)
				if _, err := verify(wb, msgs, tk, out); err != nil {
					t.Fatalf("level %d, window bits %d, takeover %t: %v", level, wb, takeover, err)
				}
			}
		}
	}
}

// TestMixedTakeover alternates takeover per message: a message that follows
// one finished without takeover must not reach into it.
func TestMixedTakeover(t *testing.T) {
	msg := jsonLike(3000, 9)
	msgs := [][]byte{msg, msg, msg, msg, msg, msg}
	tk := []bool{true, false, false, true, true, false}
	for level := 1; level <= 9; level++ {
		out := encodeMessages(NewEncoder(15, level), msgs, tk, 0)
		if _, err := verify(15, msgs, tk, out); err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		// Messages 1 and 4 follow a takeover: they are a fraction of 2,
		// which does not.
		if len(out[1]) > len(out[2])/4 || len(out[4]) > len(out[2])/4 || len(out[2]) != len(out[0]) {
			t.Fatalf("level %d: sizes %d %d %d do not follow the takeover pattern", level, len(out[1]), len(out[2]), len(out[4]))
		}
	}
}

// TestBlockTypes checks that each block type is chosen where it is the
// cheapest: fixed for tiny messages, stored for incompressible data, and
// dynamic for text large enough to pay for its tables.
func TestBlockTypes(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want int // BTYPE of the data block
	}{
		{"tiny", []byte("Hello, world"), 1},
		{"random", randomBytes(4000, 11), 0},
		{"json", jsonLike(4000, 12), 2},
		{"english", englishLike(4000, 13), 2},
	}
	for _, tt := range tests {
		for level := 1; level <= 9; level++ {
			msgs := [][]byte{tt.data}
			tk := []bool{true}
			out := encodeMessages(NewEncoder(15, level), msgs, tk, 0)
			f, err := verify(15, msgs, tk, out)
			if err != nil {
				t.Fatalf("%s level %d: %v", tt.name, level, err)
			}
			got := f.blocks
			got[0]-- // the empty stored block that ends every message
			want := [3]int{}
			want[tt.want] = 1
			if got != want {
				t.Fatalf("%s level %d: blocks stored/fixed/dynamic %v, want %v", tt.name, level, got, want)
			}
			if tt.want == 0 && len(out[0]) != len(tt.data)+5+1 {
				t.Fatalf("%s level %d: stored message is %d bytes, want %d", tt.name, level, len(out[0]), len(tt.data)+6)
			}
		}
	}
}

// TestStoredAfterHuffman checks the byte alignment of a stored block that
// follows a Huffman block ending mid-byte within one message.
func TestStoredAfterHuffman(t *testing.T) {
	msg := append(jsonLike(chunkSize, 14), randomBytes(chunkSize, 15)...)
	msg = append(msg, jsonLike(chunkSize, 16)...)
	msgs := [][]byte{msg}
	tk := []bool{true}
	for level := 1; level <= 9; level++ {
		out := encodeMessages(NewEncoder(15, level), msgs, tk, 0)
		f, err := verify(15, msgs, tk, out)
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if f.blocks[0] != 2 || f.blocks[2] != 2 {
			t.Fatalf("level %d: blocks stored/fixed/dynamic %v, want one stored between two dynamic", level, f.blocks)
		}
	}
}

// TestWriteEmitsEarly checks that Write holds back a bounded amount of
// input: a long message streams out while it is being written, before
// Finish.
func TestWriteEmitsEarly(t *testing.T) {
	data := randomBytes(256<<10, 21)
	for _, level := range []int{1, 6} {
		for _, wb := range []int{8, 15} {
			e := NewEncoder(wb, level)
			var out []byte
			for p := data; len(p) > 0; p = p[1000:] {
				out = e.Write(out, p[:min(1000, len(p))])
				if len(p) <= 1000 {
					break
				}
			}
			held := len(data) - len(out)
			if limit := 1<<wb + chunkSize; held > limit {
				t.Fatalf("level %d, window bits %d: %d bytes of input held back before Finish, want at most %d", level, wb, held, limit)
			}
			msgs, tk := [][]byte{data}, []bool{true}
			if _, err := verify(wb, msgs, tk, [][]byte{e.Finish(out, true)}); err != nil {
				t.Fatalf("level %d, window bits %d: %v", level, wb, err)
			}
		}
	}
}

// TestReset checks that a Reset encoder produces what a new one does, even
// after being abandoned mid-message.
func TestReset(t *testing.T) {
	msg := jsonLike(40000, 17)
	for level := 1; level <= 9; level++ {
		e := NewEncoder(12, level)
		fresh := e.Finish(e.Write(nil, msg), true)
		e.Write(nil, msg[:30000]) // abandoned half-way
		e.Reset()
		got := e.Finish(e.Write(nil, msg), true)
		if !bytes.Equal(got, fresh) {
			t.Fatalf("level %d: after Reset the output differs from a new encoder's", level)
		}
	}
}

// TestZeroAllocs pins the steady state: with a dst large enough, Write and
// Finish allocate nothing, for every level and block type.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector distorts allocation counts; scripts/test runs this test without it")
	}
	data := [][]byte{jsonLike(1<<10, 18), jsonLike(64<<10, 19), randomBytes(16<<10, 20), repeated(100 << 10)}
	for level := 1; level <= 9; level++ {
		for _, takeover := range []bool{true, false} {
			e := NewEncoder(15, level)
			dst := make([]byte, 0, 256<<10)
			for i, d := range data {
				allocs := testing.AllocsPerRun(20, func() {
					out := e.Write(dst[:0], d[:len(d)/3])
					out = e.Write(out, d[len(d)/3:])
					e.Finish(out, takeover)
				})
				if allocs != 0 {
					t.Fatalf("level %d, takeover %t, payload %d: %v allocations per message", level, takeover, i, allocs)
				}
			}
		}
	}
}

// TestMemory measures what NewEncoder allocates and holds it to the budget:
// the window, one pending block, and tables, far below compress/flate.
func TestMemory(t *testing.T) {
	for _, level := range []int{1, 6, 9} {
		for _, wb := range []int{8, 10, 12, 15} {
			var e *Encoder
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			e = NewEncoder(wb, level)
			runtime.ReadMemStats(&after)
			got := after.TotalAlloc - before.TotalAlloc
			runtime.KeepAlive(e)
			budget := uint64(1<<wb + 64<<10)
			if level > 3 {
				budget += 3<<wb + 16<<10 // hash chain links and heads, more tokens
			}
			t.Logf("level %d, window bits %2d: %6d bytes", level, wb, got)
			if got > budget {
				t.Fatalf("level %d, window bits %d: NewEncoder allocated %d bytes, budget %d", level, wb, got, budget)
			}
		}
	}
}
