package wsx

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// validPrefix reports whether p is valid UTF-8 or could become valid by
// appending bytes: every rune decodes except, at the end, a sequence that
// is cut short but correct so far (utf8.FullRune reports those as not
// full). This is what a fail-fast validator must accept.
func validPrefix(p []byte) bool {
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size <= 1 {
			return !utf8.FullRune(p)
		}
		p = p[size:]
	}
	return true
}

// firstInvalid returns the index of the byte at which p stops being a valid
// prefix, or -1 if it never does.
func firstInvalid(p []byte) int {
	for i := 1; i <= len(p); i++ {
		if !validPrefix(p[:i]) {
			return i - 1
		}
	}
	return -1
}

// utf8Cases are the RFC 3629 boundaries and the usual suspects, with
// whether each is valid UTF-8 as a whole.
var utf8Cases = []struct {
	name string
	in   string
}{
	{"empty", ""},
	{"ascii", "Hello, world"},
	{"nul and del", "\x00\x7f"},
	{"greek kosme", "κόσμε"},
	{"mixed widths", "a\u00e9\u20ac\U0001F600z"},
	{"U+0080", "\xc2\x80"},
	{"U+07FF", "\xdf\xbf"},
	{"C0 overlong", "\xc0\x80"},
	{"C1 overlong", "\xc1\xbf"},
	{"C0 alone", "\xc0"},
	{"C1 then ascii", "\xc1A"},
	{"U+0800", "\xe0\xa0\x80"},
	{"E0 overlong", "\xe0\x9f\xbf"},
	{"E0 80 overlong", "\xe0\x80\x80"},
	{"U+D7FF", "\xed\x9f\xbf"},
	{"U+D800", "\xed\xa0\x80"},
	{"U+DBFF", "\xed\xaf\xbf"},
	{"U+DC00", "\xed\xb0\x80"},
	{"U+DFFF", "\xed\xbf\xbf"},
	{"surrogate pair", "\xed\xa0\xbd\xed\xb8\x80"},
	{"U+E000", "\xee\x80\x80"},
	{"U+FFFD", "\xef\xbf\xbd"},
	{"U+FFFE", "\xef\xbf\xbe"},
	{"U+FFFF", "\xef\xbf\xbf"},
	{"U+10000", "\xf0\x90\x80\x80"},
	{"F0 overlong", "\xf0\x8f\xbf\xbf"},
	{"F0 80 overlong", "\xf0\x80\x80\x80"},
	{"U+10FFFF", "\xf4\x8f\xbf\xbf"},
	{"U+110000", "\xf4\x90\x80\x80"},
	{"F5", "\xf5\x80\x80\x80"},
	{"F7", "\xf7\xbf\xbf\xbf"},
	{"F8 five bytes", "\xf8\x88\x80\x80\x80"},
	{"FC six bytes", "\xfc\x84\x80\x80\x80\x80"},
	{"FE", "\xfe"},
	{"FF", "\xff"},
	{"lone continuation 80", "\x80"},
	{"lone continuation BF", "a\xbf"},
	{"two-byte cut", "ab\xc2"},
	{"three-byte cut after 1", "\xe2"},
	{"three-byte cut after 2", "\xe2\x82"},
	{"four-byte cut after 3", "\xf0\x9f\x98"},
	{"cut then ascii", "\xe2\x82A"},
	{"cut then new lead", "\xe2\xc2\xa9"},
	{"too many continuations", "\xc2\x80\x80"},
	// Autobahn case 6.3.1: fails fast at the A0 after ED.
	{"autobahn 6.3.1", "κόσμε\xed\xa0\x80edited"},
	{"valid after long ascii", strings.Repeat("x", 40) + "\xf0\x9f\x98\x80" + strings.Repeat("y", 40)},
	{"invalid after long ascii", strings.Repeat("x", 40) + "\xf0\x9f\x98" + strings.Repeat("y", 40)},
}

// randomUTF8Inputs returns inputs made mostly of valid characters of every
// width, with some bytes damaged, cut or inserted.
func randomUTF8Inputs(n int) [][]byte {
	r := rand.New(rand.NewPCG(7, 8))
	runes := []rune{'a', 'Z', 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff, 'é', '€', '😀'}
	var out [][]byte
	for range n {
		var b []byte
		for range r.IntN(12) {
			b = utf8.AppendRune(b, runes[r.IntN(len(runes))])
		}
		switch r.IntN(4) {
		case 0: // damage a byte
			if len(b) > 0 {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
		case 1: // cut short
			if len(b) > 0 {
				b = b[:r.IntN(len(b))]
			}
		case 2: // insert a stray byte
			i := r.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(0x80 + r.IntN(0x80))}, b[i:]...)...)
		}
		out = append(out, b)
	}
	return out
}

func allUTF8Inputs() [][]byte {
	var in [][]byte
	for _, tc := range utf8Cases {
		in = append(in, []byte(tc.in))
	}
	return append(in, randomUTF8Inputs(500)...)
}

// feed writes the pieces of p cut at the given points and reports the
// validator's verdict on the whole: every write accepted and the text ends
// on a character boundary.
func feed(p []byte, cuts ...int) bool {
	var v utf8Validator
	last := 0
	for _, c := range append(cuts, len(p)) {
		if !v.write(p[last:c]) {
			return false
		}
		last = c
	}
	return v.done()
}

func TestUTF8ValidatorCases(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(tc.in)
			if got, want := feed(p), utf8.Valid(p); got != want {
				t.Fatalf("validator says %v for %q, utf8.Valid says %v", got, p, want)
			}
		})
	}
}

// TestUTF8ValidatorSplits checks every input cut into two pieces at every
// position, and short inputs into three pieces at every pair of positions.
func TestUTF8ValidatorSplits(t *testing.T) {
	for _, p := range allUTF8Inputs() {
		want := utf8.Valid(p)
		for i := 0; i <= len(p); i++ {
			if got := feed(p, i); got != want {
				t.Fatalf("%q cut at %d: validator says %v, utf8.Valid says %v", p, i, got, want)
			}
			if len(p) > 24 {
				continue
			}
			for j := i; j <= len(p); j++ {
				if got := feed(p, i, j); got != want {
					t.Fatalf("%q cut at %d and %d: validator says %v, utf8.Valid says %v", p, i, j, got, want)
				}
			}
		}
	}
}

// TestUTF8ValidatorFailsFast feeds inputs one byte at a time and in two
// pieces, and checks that the validator reports invalid text exactly when
// the first byte that no valid text could contain arrives (RFC 6455 §8.1),
// not earlier and not at the end.
func TestUTF8ValidatorFailsFast(t *testing.T) {
	for _, p := range allUTF8Inputs() {
		bad := firstInvalid(p)
		var v utf8Validator
		for i := range p {
			ok := v.write(p[i : i+1])
			if want := i != bad; ok != want {
				t.Fatalf("%q byte by byte: write of byte %d returned %v, want %v (first invalid byte %d)", p, i, ok, want, bad)
			}
			if !ok {
				break
			}
		}
		// A piece ending right at the bad byte fails; one ending just
		// before it does not.
		if bad >= 0 {
			var v utf8Validator
			if !v.write(p[:bad]) {
				t.Fatalf("%q: valid prefix of %d bytes rejected", p, bad)
			}
			if v.write(p[bad : bad+1]) {
				t.Fatalf("%q: invalid byte %d accepted", p, bad)
			}
		}
	}
}

func TestUTF8ValidatorFailFastPositions(t *testing.T) {
	tests := []struct {
		in  string
		bad int
	}{
		{"\xc0", 0},
		{"\xc1", 0},
		{"\xf5", 0},
		{"\xff", 0},
		{"\x80", 0},
		{"\xe0\x9f", 1},
		{"\xed\xa0", 1},
		{"\xf0\x8f", 1},
		{"\xf4\x90", 1},
		{"\xe2\x82A", 2},
		{"\xf0\x9f\x98A", 3},
		{"κόσμε\xed\xa0\x80edited", len("κόσμε") + 1},
		{"\xe2\x82", -1},
		{"\xf4\x8f\xbf", -1},
	}
	for _, tt := range tests {
		if got := firstInvalid([]byte(tt.in)); got != tt.bad {
			t.Fatalf("reference: first invalid byte of %q = %d, want %d", tt.in, got, tt.bad)
		}
		var v utf8Validator
		failed := -1
		for i := range len(tt.in) {
			if !v.write([]byte{tt.in[i]}) {
				failed = i
				break
			}
		}
		if failed != tt.bad {
			t.Errorf("%q: validator failed at byte %d, want %d", tt.in, failed, tt.bad)
		}
	}
}

func TestUTF8ValidatorReset(t *testing.T) {
	var v utf8Validator
	if !v.write([]byte("\xe2\x82")) || v.done() {
		t.Fatal("cut sequence: want accepted and not done")
	}
	v.reset()
	if !v.done() {
		t.Fatal("reset left a pending sequence")
	}
	// Without the reset, "A" would end the cut sequence and fail.
	if !v.write([]byte("A")) || !v.done() {
		t.Fatal("text after reset was judged with the old sequence")
	}
	// Empty writes change nothing.
	if !v.write(nil) || !v.write([]byte{}) || !v.done() {
		t.Fatal("empty writes changed the verdict")
	}
}
