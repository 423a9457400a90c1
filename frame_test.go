package wsx

import (
	"bytes"
	"strings"
	"testing"
)

// rfcKey is the masking key of the RFC 6455 §5.7 examples (wire bytes
// 37 fa 21 3d), loaded the way header.key holds it.
const rfcKey uint32 = 0x3d21fa37

func TestHeaderGolden(t *testing.T) {
	tests := []struct {
		name string
		h    header
		wire string
	}{
		// RFC 6455 §5.7.
		{"unmasked text Hello", header{fin: true, opcode: opText, length: 5}, "\x81\x05"},
		{"masked text Hello", header{fin: true, opcode: opText, masked: true, key: rfcKey, length: 5}, "\x81\x85\x37\xfa\x21\x3d"},
		{"first fragment Hel", header{opcode: opText, length: 3}, "\x01\x03"},
		{"last fragment lo", header{fin: true, opcode: opContinuation, length: 2}, "\x80\x02"},
		{"unmasked ping", header{fin: true, opcode: opPing, length: 5}, "\x89\x05"},
		{"masked pong", header{fin: true, opcode: opPong, masked: true, key: rfcKey, length: 5}, "\x8a\x85\x37\xfa\x21\x3d"},
		{"256 bytes binary", header{fin: true, opcode: opBinary, length: 256}, "\x82\x7e\x01\x00"},
		{"64 KiB binary", header{fin: true, opcode: opBinary, length: 65536}, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"},

		// Every length encoding at its edges.
		{"length 0", header{fin: true, opcode: opBinary}, "\x82\x00"},
		{"length 125", header{fin: true, opcode: opBinary, length: 125}, "\x82\x7d"},
		{"length 126", header{fin: true, opcode: opBinary, length: 126}, "\x82\x7e\x00\x7e"},
		{"length 65535", header{fin: true, opcode: opBinary, length: 65535}, "\x82\x7e\xff\xff"},
		{"length 2^63-1", header{fin: true, opcode: opBinary, length: 1<<63 - 1}, "\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"},
		{"masked length 2^63-1", header{fin: true, opcode: opBinary, masked: true, key: 0x04030201, length: 1<<63 - 1},
			"\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04"},
		{"masked length 126", header{opcode: opBinary, masked: true, key: 0xffffffff, length: 126}, "\x02\xfe\x00\x7e\xff\xff\xff\xff"},
		{"masked empty close", header{fin: true, opcode: opClose, masked: true, key: 0}, "\x88\x80\x00\x00\x00\x00"},
		{"close 125", header{fin: true, opcode: opClose, length: 125}, "\x88\x7d"},
		{"rsv1 kept", header{fin: true, rsv: bitRsv1, opcode: opText, length: 1}, "\xc1\x01"},
		{"all rsv kept", header{rsv: bitRsv1 | bitRsv2 | bitRsv3, opcode: opContinuation, length: 1}, "\x70\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b [maxHeaderSize]byte
			n := putHeader(b[:], &tt.h)
			if got := string(b[:n]); got != tt.wire {
				t.Fatalf("putHeader = %q, want %q", got, tt.wire)
			}
			if got := headerLen(tt.h.length, tt.h.masked); got != len(tt.wire) {
				t.Fatalf("headerLen = %d, want %d", got, len(tt.wire))
			}
			if got := headerSize(tt.wire[0], tt.wire[1]); got != len(tt.wire) {
				t.Fatalf("headerSize = %d, want %d", got, len(tt.wire))
			}
			var h header
			// Trailing payload bytes must not be taken for header.
			n, err := parseHeader([]byte(tt.wire+"payload"), &h)
			if err != nil {
				t.Fatalf("parseHeader: %v", err)
			}
			if n != len(tt.wire) {
				t.Fatalf("parseHeader consumed %d bytes, want %d", n, len(tt.wire))
			}
			if h != tt.h {
				t.Fatalf("parseHeader = %+v, want %+v", h, tt.h)
			}
		})
	}
}

// TestRFCMaskedHello checks the masked "Hello" of RFC 6455 §5.7 end to end:
// header, key and payload together.
func TestRFCMaskedHello(t *testing.T) {
	const wire = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
	var h header
	n, err := parseHeader([]byte(wire), &h)
	if err != nil {
		t.Fatal(err)
	}
	p := []byte(wire[n:])
	if got := mask(h.key, 0, p); got != 1 {
		t.Fatalf("key position after 5 bytes = %d, want 1", got)
	}
	if string(p) != "Hello" {
		t.Fatalf("unmasked payload %q, want %q", p, "Hello")
	}
}

func TestParseHeaderRejects(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want string // part of the error message
	}{
		{"16-bit length 0", "\x82\x7e\x00\x00", "non-minimal 16-bit"},
		{"16-bit length 125", "\x82\x7e\x00\x7d", "non-minimal 16-bit"},
		{"64-bit length 0", "\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x00", "non-minimal 64-bit"},
		{"64-bit length 125", "\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x7d", "non-minimal 64-bit"},
		{"64-bit length 65535", "\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", "non-minimal 64-bit"},
		{"64-bit length 2^63", "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", "most significant bit"},
		{"64-bit length 2^64-1", "\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", "most significant bit"},
		{"masked 2^63", "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01\x01\x02\x03\x04", "most significant bit"},
		{"opcode 3", "\x83\x00", "reserved opcode 3"},
		{"opcode 4", "\x84\x00", "reserved opcode 4"},
		{"opcode 5", "\x85\x00", "reserved opcode 5"},
		{"opcode 6", "\x86\x00", "reserved opcode 6"},
		{"opcode 7", "\x87\x00", "reserved opcode 7"},
		{"opcode 11", "\x8b\x00", "reserved opcode 11"},
		{"opcode 12", "\x8c\x00", "reserved opcode 12"},
		{"opcode 13", "\x8d\x00", "reserved opcode 13"},
		{"opcode 14", "\x8e\x00", "reserved opcode 14"},
		{"opcode 15", "\x8f\x00", "reserved opcode 15"},
		{"fragmented ping", "\x09\x00", "fragmented ping"},
		{"fragmented pong", "\x0a\x00", "fragmented pong"},
		{"fragmented close", "\x08\x02", "fragmented close"},
		{"ping of 126", "\x89\x7e\x00\x7e", "over 125"},
		{"close of 65536", "\x88\x7f\x00\x00\x00\x00\x00\x01\x00\x00", "over 125"},
		{"masked pong of 200", "\x8a\xfe\x00\xc8\x01\x02\x03\x04", "over 125"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h header
			_, err := parseHeader([]byte(tt.wire), &h)
			if err == nil {
				t.Fatalf("parseHeader(%q) accepted %+v", tt.wire, h)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestParseHeaderControlLimits checks the largest legal control frames and
// that data frames have no such limit.
func TestParseHeaderControlLimits(t *testing.T) {
	for _, op := range []opcode{opClose, opPing, opPong} {
		for _, length := range []int64{0, 1, 125} {
			b := make([]byte, maxHeaderSize)
			n := putHeader(b, &header{fin: true, opcode: op, masked: true, key: 7, length: length})
			var h header
			if _, err := parseHeader(b[:n], &h); err != nil {
				t.Errorf("%v of %d bytes rejected: %v", op, length, err)
			}
		}
	}
	for _, op := range []opcode{opContinuation, opText, opBinary} {
		for _, fin := range []bool{false, true} {
			b := make([]byte, maxHeaderSize)
			n := putHeader(b, &header{fin: fin, opcode: op, length: 1 << 40})
			var h header
			if _, err := parseHeader(b[:n], &h); err != nil {
				t.Errorf("%v fin=%v of 2^40 bytes rejected: %v", op, fin, err)
			}
		}
	}
}

func TestHeaderLenAllEncodings(t *testing.T) {
	tests := []struct {
		length int64
		want   int
	}{
		{0, 2}, {1, 2}, {125, 2}, {126, 4}, {127, 4}, {65535, 4}, {65536, 10}, {1<<32 + 5, 10}, {1<<63 - 1, 10},
	}
	for _, tt := range tests {
		for _, masked := range []bool{false, true} {
			want := tt.want
			if masked {
				want += 4
			}
			if got := headerLen(tt.length, masked); got != want {
				t.Errorf("headerLen(%d, %v) = %d, want %d", tt.length, masked, got, want)
			}
			b := make([]byte, maxHeaderSize)
			n := putHeader(b, &header{fin: true, opcode: opBinary, masked: masked, length: tt.length})
			if n != want {
				t.Errorf("putHeader(length %d, masked %v) wrote %d bytes, want %d", tt.length, masked, n, want)
			}
			if got := headerSize(b[0], b[1]); got != want {
				t.Errorf("headerSize for length %d, masked %v = %d, want %d", tt.length, masked, got, want)
			}
		}
	}
}

// TestPutHeaderBounds checks that putHeader writes only its own bytes.
func TestPutHeaderBounds(t *testing.T) {
	for _, length := range []int64{5, 300, 70000} {
		b := bytes.Repeat([]byte{0xEE}, maxHeaderSize+4)
		n := putHeader(b, &header{fin: true, opcode: opBinary, length: length})
		for i := n; i < len(b); i++ {
			if b[i] != 0xEE {
				t.Fatalf("length %d: putHeader wrote byte %d past its %d-byte header", length, i, n)
			}
		}
	}
}

func TestOpcode(t *testing.T) {
	tests := []struct {
		op      opcode
		name    string
		control bool
		known   bool
	}{
		{opContinuation, "continuation", false, true},
		{opText, "text", false, true},
		{opBinary, "binary", false, true},
		{3, "opcode(3)", false, false},
		{7, "opcode(7)", false, false},
		{opClose, "close", true, true},
		{opPing, "ping", true, true},
		{opPong, "pong", true, true},
		{0xB, "opcode(11)", true, false},
		{0xF, "opcode(15)", true, false},
		{16, "opcode(16)", false, false},
	}
	for _, tt := range tests {
		if got := tt.op.String(); got != tt.name {
			t.Errorf("opcode %d String = %q, want %q", byte(tt.op), got, tt.name)
		}
		if tt.op < 16 {
			if got := tt.op.isControl(); got != tt.control {
				t.Errorf("opcode %d isControl = %v, want %v", byte(tt.op), got, tt.control)
			}
		}
		if got := tt.op.isKnown(); got != tt.known {
			t.Errorf("opcode %d isKnown = %v, want %v", byte(tt.op), got, tt.known)
		}
	}
}

func TestMessageTypeString(t *testing.T) {
	tests := []struct {
		typ  MessageType
		want string
	}{
		{MessageText, "text"},
		{MessageBinary, "binary"},
		{MessageType(0), "MessageType(0)"},
		{MessageType(9), "MessageType(9)"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("MessageType(%d).String() = %q, want %q", int(tt.typ), got, tt.want)
		}
	}
	// The public values are the wire opcodes.
	if MessageText != 1 || MessageBinary != 2 {
		t.Fatalf("MessageText = %d, MessageBinary = %d, want 1 and 2", MessageText, MessageBinary)
	}
}
