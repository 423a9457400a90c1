package wsx

import (
	"encoding/binary"
	"strconv"
)

// opcode is a frame opcode (RFC 6455 §5.2). Opcodes are not part of the
// public API: users see MessageType for data and dedicated methods for
// control frames.
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

var opcodeNames = [16]string{
	opContinuation: "continuation",
	opText:         "text",
	opBinary:       "binary",
	opClose:        "close",
	opPing:         "ping",
	opPong:         "pong",
}

func (o opcode) String() string {
	if int(o) < len(opcodeNames) && opcodeNames[o] != "" {
		return opcodeNames[o]
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}

// isControl reports whether o is a control opcode (the high bit of the
// 4-bit opcode set, RFC 6455 §5.5).
func (o opcode) isControl() bool { return o&0x8 != 0 }

// isKnown reports whether o is defined by RFC 6455; the rest are reserved.
func (o opcode) isKnown() bool {
	switch o {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
		return true
	}
	return false
}

// MessageType is the type of a data message: text (UTF-8) or binary.
type MessageType int

const (
	// MessageText is a text message. Its payload must be valid UTF-8; wsx
	// checks that on every message it reads (RFC 6455 §8.1).
	MessageText MessageType = MessageType(opText)
	// MessageBinary is a binary message with arbitrary payload.
	MessageBinary MessageType = MessageType(opBinary)
)

// String returns "text", "binary" or "MessageType(N)".
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Frame header bits (RFC 6455 §5.2).
const (
	bitFin  = 0x80
	bitRsv1 = 0x40
	bitRsv2 = 0x20
	bitRsv3 = 0x10
	bitMask = 0x80

	// maxHeaderSize is the longest frame header: 2 bytes, an 8-byte
	// extended length and a 4-byte masking key.
	maxHeaderSize = 14
	// maxControlPayload is the longest payload of a control frame
	// (RFC 6455 §5.5).
	maxControlPayload = 125
)

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the RSV1-3 bits exactly as they sit in the first byte
	opcode opcode
	masked bool
	key    uint32 // masking key, the four wire bytes loaded little-endian
	length int64
}

// headerLen returns the encoded size of a header with the given payload
// length and masking.
func headerLen(length int64, masked bool) int {
	n := 2
	switch {
	case length > 0xFFFF:
		n += 8
	case length > 125:
		n += 2
	}
	if masked {
		n += 4
	}
	return n
}

// putHeader encodes h into b, which must have room for maxHeaderSize bytes,
// and returns the number of bytes written. It always uses the minimal length
// encoding, as RFC 6455 §5.2 requires.
func putHeader(b []byte, h *header) int {
	b0 := byte(h.opcode) | h.rsv
	if h.fin {
		b0 |= bitFin
	}
	b[0] = b0
	var b1 byte
	if h.masked {
		b1 = bitMask
	}
	n := 2
	switch {
	case h.length <= 125:
		b[1] = b1 | byte(h.length)
	case h.length <= 0xFFFF:
		b[1] = b1 | 126
		binary.BigEndian.PutUint16(b[2:], uint16(h.length))
		n = 4
	default:
		b[1] = b1 | 127
		binary.BigEndian.PutUint64(b[2:], uint64(h.length))
		n = 10
	}
	if h.masked {
		binary.LittleEndian.PutUint32(b[n:], h.key)
		n += 4
	}
	return n
}

// headerSize returns how many bytes the header starting with the two bytes
// b0 and b1 occupies.
func headerSize(b0, b1 byte) int {
	_ = b0
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	return n
}

// headerError describes why a header is malformed; the close code for all
// of them is 1002.
type headerError string

func (e headerError) Error() string { return string(e) }

// parseHeader decodes a complete header from b (len(b) >= headerSize). It
// checks only what is independent of connection state: the length encoding
// and the control frame rules of RFC 6455 §5.2 and §5.5.
func parseHeader(b []byte, h *header) (int, error) {
	b0, b1 := b[0], b[1]
	h.fin = b0&bitFin != 0
	h.rsv = b0 & (bitRsv1 | bitRsv2 | bitRsv3)
	h.opcode = opcode(b0 & 0x0F)
	h.masked = b1&bitMask != 0
	n := 2
	switch l := b1 & 0x7F; l {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
		if h.length < 126 {
			return n, headerError("non-minimal 16-bit payload length")
		}
	case 127:
		v := binary.BigEndian.Uint64(b[2:])
		n = 10
		if v>>63 != 0 {
			return n, headerError("64-bit payload length has its most significant bit set")
		}
		if v <= 0xFFFF {
			return n, headerError("non-minimal 64-bit payload length")
		}
		h.length = int64(v)
	default:
		h.length = int64(l)
	}
	if h.masked {
		h.key = binary.LittleEndian.Uint32(b[n:])
		n += 4
	} else {
		h.key = 0
	}
	if !h.opcode.isKnown() {
		return n, headerError("reserved opcode " + strconv.Itoa(int(h.opcode)))
	}
	if h.opcode.isControl() {
		if !h.fin {
			return n, headerError("fragmented " + h.opcode.String() + " frame")
		}
		if h.length > maxControlPayload {
			return n, headerError(h.opcode.String() + " frame payload over 125 bytes")
		}
	}
	return n, nil
}
