package rawpeer

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/wsx-go/wsx/internal/test/leak"
)

func TestMain(m *testing.M) { leak.Main(m) }

var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// The worked examples of RFC 6455 §5.7 pin the codec the conformance tests
// judge wsx with.
func TestFrameGolden(t *testing.T) {
	payload256 := bytes.Repeat([]byte{0xAB}, 256)
	payload64k := bytes.Repeat([]byte{0xCD}, 65536)
	tests := []struct {
		name  string
		frame Frame
		want  []byte
	}{
		{"unmasked text", Text("Hello"), []byte("\x81\x05Hello")},
		{"masked text", Frame{Fin: true, Opcode: OpText, Masked: true, Key: rfcKey, Payload: []byte("Hello")},
			[]byte("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")},
		{"first fragment", Fragment(OpText, false, []byte("Hel")), []byte("\x01\x03Hel")},
		{"last fragment", Fragment(OpContinuation, true, []byte("lo")), []byte("\x80\x02lo")},
		{"ping", Ping([]byte("Hello")), []byte("\x89\x05Hello")},
		{"masked pong", Frame{Fin: true, Opcode: OpPong, Masked: true, Key: rfcKey, Payload: []byte("Hello")},
			[]byte("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")},
		{"256 bytes", Binary(payload256), append([]byte("\x82\x7E\x01\x00"), payload256...)},
		{"64 KiB", Binary(payload64k), append([]byte("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"), payload64k...)},
		{"close", Close(1000, "bye"), []byte("\x88\x05\x03\xe8bye")},
		{"empty close", Close(NoStatus, ""), []byte("\x88\x00")},
		{"non-minimal 16-bit", Frame{Fin: true, Opcode: OpText, LenEnc: Len16, Payload: []byte("a")}, []byte("\x81\x7E\x00\x01a")},
		{"non-minimal 64-bit", Frame{Fin: true, Opcode: OpText, LenEnc: Len64, Payload: []byte("a")}, []byte("\x81\x7F\x00\x00\x00\x00\x00\x00\x00\x01a")},
		{"reserved bits and opcode", Frame{Fin: true, Rsv: Rsv1 | Rsv3, Opcode: 0xB}, []byte("\xDB\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendFrame(nil, tt.frame)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("AppendFrame = % x, want % x", head(got), head(tt.want))
			}
			f, err := ReadFrame(bytes.NewReader(tt.want), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if f.Fin != tt.frame.Fin || f.Rsv != tt.frame.Rsv || f.Opcode != tt.frame.Opcode ||
				f.Masked != tt.frame.Masked || f.Key != tt.frame.Key ||
				!bytes.Equal(f.Payload, tt.frame.Payload) || !bytes.Equal(f.Raw, tt.want) {
				t.Fatalf("ReadFrame = %v, want %v", f, tt.frame)
			}
			wantEnc := tt.frame.LenEnc
			if wantEnc == LenMinimal {
				wantEnc = MinimalLen(uint64(len(tt.frame.Payload)))
			}
			if f.LenEnc != wantEnc {
				t.Fatalf("LenEnc = %v, want %v", f.LenEnc, wantEnc)
			}
		})
	}
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func TestReadFrameErrors(t *testing.T) {
	if _, err := ReadFrame(bytes.NewReader(nil), 10); err != io.EOF {
		t.Fatalf("empty input: %v, want io.EOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte("\x81\x05Hel")), 10); err != io.ErrUnexpectedEOF {
		t.Fatalf("short payload: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte("\x81\x7F\x00")), 10); err != io.ErrUnexpectedEOF {
		t.Fatalf("short header: %v, want io.ErrUnexpectedEOF", err)
	}
	huge := AppendHeader(nil, Frame{Fin: true, Opcode: OpBinary, Length: 1 << 63, LenEnc: Len64})
	if !bytes.Equal(huge, []byte("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00")) {
		t.Fatalf("AppendHeader = % x", huge)
	}
	f, err := ReadFrame(bytes.NewReader(huge), 10)
	if !errors.Is(err, ErrPayloadTooLarge) || f.Length != 1<<63 {
		t.Fatalf("huge length: %v %v, want ErrPayloadTooLarge", f, err)
	}
}

func TestCheckWellFormed(t *testing.T) {
	masked := func(f Frame) Frame { f.Masked = true; return f }
	reread := func(f Frame) Frame {
		t.Helper()
		g, err := ReadFrame(bytes.NewReader(AppendFrame(nil, f)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	tests := []struct {
		name       string
		frame      Frame
		fromClient bool
		ok         bool
	}{
		{"server text", Text("a"), false, true},
		{"client text", masked(Text("a")), true, true},
		{"unmasked client", Text("a"), true, false},
		{"masked server", masked(Text("a")), false, false},
		{"rsv2", Frame{Fin: true, Opcode: OpText, Rsv: Rsv2}, false, false},
		{"opcode 3", Frame{Fin: true, Opcode: 3}, false, false},
		{"opcode 0xB", Frame{Fin: true, Opcode: 0xB}, false, false},
		{"non-minimal", Frame{Fin: true, Opcode: OpText, LenEnc: Len16}, false, false},
		{"fragmented ping", Frame{Opcode: OpPing}, false, false},
		{"long ping", Ping(make([]byte, 126)), false, false},
		{"1-byte close", Frame{Fin: true, Opcode: OpClose, Payload: []byte{3}}, false, false},
		{"bad close reason", Close(1000, "\xff"), false, false},
		{"close", Close(1000, "ok"), false, true},
	}
	for _, tt := range tests {
		err := CheckWellFormed(reread(tt.frame), tt.fromClient)
		if (err == nil) != tt.ok {
			t.Errorf("%s: CheckWellFormed = %v, want ok=%t", tt.name, err, tt.ok)
		}
	}
}
