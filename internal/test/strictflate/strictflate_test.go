package strictflate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wsx-go/wsx/internal/test/leak"
)

func TestMain(m *testing.M) { leak.Main(m) }

// The worked examples of RFC 7692 §7.2.3.
var (
	hello       = []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}                                     // §7.2.3.1
	helloAgain  = []byte{0xf2, 0x00, 0x11, 0x00, 0x00}                                                 // §7.2.3.2: "H", then length 4 at distance 5
	helloStored = []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}             // §7.2.3.3
	helloFinal  = []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}                               // §7.2.3.4: BFINAL set
	helloTwice  = []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00} // §7.2.3.5: two blocks
)

// bitWriter packs DEFLATE bits, least significant first (RFC 1951 §3.1.1).
type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) bits(v, n int) {
	for i := range n {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte(v>>i&1) << (w.n % 8)
		w.n++
	}
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bits(c>>i&1, 1)
	}
}

// message builds a message as a permessage-deflate sender would send it:
// data in a stored block (if any), then a fixed Huffman block holding one
// match of length 3 at distance dist (if dist > 0), then the sync flush
// without its final 00 00 ff ff.
func message(data []byte, dist int) []byte {
	w := &bitWriter{}
	if len(data) > 0 {
		w.bits(0, 3)
		w.n = (w.n + 7) &^ 7
		w.buf = append(w.buf, byte(len(data)), byte(len(data)>>8), ^byte(len(data)), ^byte(len(data)>>8))
		w.buf = append(w.buf, data...)
		w.n = 8 * len(w.buf)
	}
	if dist > 0 {
		w.bits(0, 1)
		w.bits(1, 2)
		w.code(1, 7) // length symbol 257: 3
		ds := 29
		for DistBase[ds] > dist {
			ds--
		}
		w.code(ds, 5)
		w.bits(dist-DistBase[ds], DistExtra[ds])
		w.code(0, 7) // end of block
	}
	w.bits(0, 3) // the empty stored block's header
	return w.buf
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestDecoder checks the decoder on the worked examples of RFC 7692 §7.2.3
// and on hand-built messages, and that it rejects what it is meant to
// catch.
func TestDecoder(t *testing.T) {
	big := pattern(40000)
	tests := []struct {
		name       string
		windowBits int
		msgs       [][]byte
		takeover   bool // for the messages after the first
		want       []byte
		wantLast   Result // Data, Blocks, Longest and ReachBack of the last message
		wantErr    string
	}{
		{"shared window", 15, [][]byte{hello, helloAgain}, true, []byte("HelloHello"),
			Result{Data: []byte("Hello"), Blocks: [3]int{1, 1, 0}, Longest: 5, ReachBack: true}, ""},
		{"stored block", 15, [][]byte{helloStored}, true, []byte("Hello"),
			Result{Data: []byte("Hello"), Blocks: [3]int{2, 0, 0}}, ""},
		{"two blocks", 15, [][]byte{helloTwice}, true, []byte("Hello"),
			Result{Data: []byte("Hello"), Blocks: [3]int{2, 2, 0}}, ""},
		{"distance within the message", 15, [][]byte{message(pattern(300), 300)}, false, nil,
			Result{Data: append(pattern(300), pattern(3)...), Blocks: [3]int{2, 1, 0}, Longest: 300}, ""},
		{"distance as long as the window", 8, [][]byte{message(pattern(300), 256)}, true, nil,
			Result{Data: append(pattern(300), pattern(300)[44:47]...), Blocks: [3]int{2, 1, 0}, Longest: 256}, ""},
		{"distance into trimmed history", 15, [][]byte{message(big, 0), message(nil, 32768)}, true, nil,
			Result{Data: big[40000-32768 : 40000-32768+3], Blocks: [3]int{1, 1, 0}, Longest: 32768, ReachBack: true}, ""},
		{"window too small", 8, [][]byte{message(pattern(300), 257)}, true, nil, Result{}, "beyond the negotiated window of 256 bytes"},
		{"no context takeover", 15, [][]byte{hello, helloAgain}, false, nil, Result{}, "before the message, without context takeover"},
		{"nothing to refer to", 15, [][]byte{helloAgain}, true, nil, Result{}, "before anything was sent"},
		{"final block", 15, [][]byte{helloFinal}, true, nil, Result{}, "final block"},
		{"no trailing empty block", 15, [][]byte{hello[:6]}, true, nil, Result{}, "ends early"},
		{"ends in a non-empty stored block", 15, [][]byte{{0x00, 0x04, 0x00, 0xfb, 0xff}}, true, nil, Result{}, "does not end with an empty stored block"},
	}
	for _, tt := range tests {
		d := New(tt.windowBits)
		var got []byte
		var last Result
		var err error
		for i, m := range tt.msgs {
			if last, err = d.Message(m, i == 0 || tt.takeover); err != nil {
				break
			}
			got = append(got, last.Data...)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%s: error %v, want one mentioning %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.want != nil && !bytes.Equal(got, tt.want) {
			t.Fatalf("%s: decoded %q, want %q", tt.name, got, tt.want)
		}
		if !bytes.Equal(last.Data, tt.wantLast.Data) || last.Blocks != tt.wantLast.Blocks || last.Longest != tt.wantLast.Longest || last.ReachBack != tt.wantLast.ReachBack {
			t.Fatalf("%s: last message %q blocks %v longest %d reach back %t, want %q %v %d %t", tt.name,
				last.Data, last.Blocks, last.Longest, last.ReachBack,
				tt.wantLast.Data, tt.wantLast.Blocks, tt.wantLast.Longest, tt.wantLast.ReachBack)
		}
	}
}

// TestErrorKeepsHistory checks that a rejected message leaves the history
// as it was, so the next message decodes against the earlier ones only.
func TestErrorKeepsHistory(t *testing.T) {
	d := New(15)
	if _, err := d.Message(hello, true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Message(helloFinal, true); err == nil {
		t.Fatal("final block accepted")
	}
	res, err := d.Message(helloAgain, true)
	if err != nil || string(res.Data) != "Hello" {
		t.Fatalf("after a rejected message: %q, %v, want \"Hello\"", res.Data, err)
	}
}

// TestNewTree checks that only complete Huffman codes are accepted.
func TestNewTree(t *testing.T) {
	tests := []struct {
		lens    []int
		wantErr string
	}{
		{[]int{1, 1}, ""},
		{[]int{2, 1, 0, 2}, ""},
		{[]int{1}, "incomplete"},
		{[]int{0, 0}, "incomplete"},
		{[]int{2, 2, 2}, "incomplete"},
		{[]int{1, 1, 1}, "over-subscribed"},
	}
	for _, tt := range tests {
		_, err := newTree(tt.lens)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Fatalf("code lengths %v: error %v, want %q", tt.lens, err, tt.wantErr)
		}
	}
}
