// Package rawpeer is a scripted WebSocket peer for conformance tests. It
// performs the opening handshake as a client or a server and then writes
// whatever bytes a test asks for, legal or not, and decodes what comes back
// with a frame codec of its own, so that a framing bug in wsx cannot hide
// behind the same bug in the test.
//
// Tests read like protocol transcripts:
//
//	p.WriteFrame(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, Rsv: rawpeer.Rsv1, Payload: []byte("x")})
//	p.WantClose(1002)
//	p.Finish()
package rawpeer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Opcodes (RFC 6455 §5.2). Any value 0–15 may be written.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// The reserved bits as they sit in a frame's first byte.
const (
	Rsv1 byte = 0x40
	Rsv2 byte = 0x20
	Rsv3 byte = 0x10
)

// NoStatus stands for a close frame without a payload where a close code
// is expected.
const NoStatus = -1

// LenEncoding is the form of a frame's payload length on the wire
// (RFC 6455 §5.2): the 7-bit field alone, or followed by a 16-bit or a
// 64-bit extended length.
type LenEncoding int

const (
	// LenMinimal, when encoding, picks the shortest form, the only one
	// RFC 6455 allows.
	LenMinimal LenEncoding = iota
	Len7
	Len16
	Len64
)

func (e LenEncoding) String() string {
	switch e {
	case LenMinimal:
		return "minimal"
	case Len7:
		return "7-bit"
	case Len16:
		return "16-bit"
	case Len64:
		return "64-bit"
	}
	return fmt.Sprintf("LenEncoding(%d)", int(e))
}

// MinimalLen returns the shortest encoding of length n.
func MinimalLen(n uint64) LenEncoding {
	switch {
	case n <= 125:
		return Len7
	case n <= 0xFFFF:
		return Len16
	}
	return Len64
}

// Frame is one WebSocket frame. Encoding takes every field literally, so
// any frame can be written, including illegal ones.
type Frame struct {
	Fin    bool
	Rsv    byte // any of Rsv1, Rsv2, Rsv3
	Opcode byte
	Masked bool
	Key    [4]byte
	// Length is the payload length in the header. AppendHeader writes
	// it as given, whatever the payload; AppendFrame uses len(Payload).
	Length uint64
	// LenEnc is the form of the length: when encoding, LenMinimal picks
	// the shortest; a decoded frame reports the form it arrived in.
	LenEnc LenEncoding
	// Payload is the unmasked payload.
	Payload []byte
	// Raw is the frame exactly as it was read, header and masked
	// payload. It is set by ReadFrame only.
	Raw []byte
}

func (f Frame) String() string {
	s := fmt.Sprintf("{fin=%t rsv=%#x op=%#x masked=%t len=%d(%v)", f.Fin, f.Rsv>>4, f.Opcode, f.Masked, f.Length, f.LenEnc)
	p := f.Payload
	if len(p) > 32 {
		p = p[:32]
	}
	s += fmt.Sprintf(" payload=%q", p)
	if len(f.Payload) > len(p) {
		s += "..."
	}
	return s + "}"
}

// Text returns a final text frame.
func Text(s string) Frame { return Frame{Fin: true, Opcode: OpText, Payload: []byte(s)} }

// Binary returns a final binary frame.
func Binary(p []byte) Frame { return Frame{Fin: true, Opcode: OpBinary, Payload: p} }

// Fragment returns a data frame of a fragmented message: opcode OpText or
// OpBinary for the first, OpContinuation for the rest.
func Fragment(op byte, fin bool, p []byte) Frame { return Frame{Fin: fin, Opcode: op, Payload: p} }

// Ping returns a ping frame.
func Ping(p []byte) Frame { return Frame{Fin: true, Opcode: OpPing, Payload: p} }

// Pong returns a pong frame.
func Pong(p []byte) Frame { return Frame{Fin: true, Opcode: OpPong, Payload: p} }

// Close returns a close frame with code and reason, or with an empty
// payload when code is NoStatus. Any code that fits 16 bits may be
// written.
func Close(code int, reason string) Frame {
	return Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(code, reason)}
}

// ClosePayload returns the payload of a close frame (RFC 6455 §5.5.1).
func ClosePayload(code int, reason string) []byte {
	if code == NoStatus {
		return nil
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// IsControl reports whether op is a control opcode.
func IsControl(op byte) bool { return op&0x8 != 0 }

// AppendHeader appends the header of f, announcing f.Length payload bytes
// in the form f.LenEnc, and the masking key if f.Masked. It panics when
// the length does not fit the form asked for.
func AppendHeader(b []byte, f Frame) []byte {
	b0 := f.Opcode&0x0F | f.Rsv&(Rsv1|Rsv2|Rsv3)
	if f.Fin {
		b0 |= 0x80
	}
	var maskBit byte
	if f.Masked {
		maskBit = 0x80
	}
	enc := f.LenEnc
	if enc == LenMinimal {
		enc = MinimalLen(f.Length)
	}
	switch enc {
	case Len7:
		if f.Length > 125 {
			panic(fmt.Sprintf("rawpeer: length %d does not fit 7 bits", f.Length))
		}
		b = append(b, b0, maskBit|byte(f.Length))
	case Len16:
		if f.Length > 0xFFFF {
			panic(fmt.Sprintf("rawpeer: length %d does not fit 16 bits", f.Length))
		}
		b = append(b, b0, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(f.Length))
	case Len64:
		b = append(b, b0, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, f.Length)
	default:
		panic(fmt.Sprintf("rawpeer: bad length encoding %v", enc))
	}
	if f.Masked {
		b = append(b, f.Key[:]...)
	}
	return b
}

// AppendFrame appends f, header and payload, masking the payload with
// f.Key if f.Masked. f.Length is ignored: the header announces
// len(f.Payload).
func AppendFrame(b []byte, f Frame) []byte {
	f.Length = uint64(len(f.Payload))
	b = AppendHeader(b, f)
	start := len(b)
	b = append(b, f.Payload...)
	if f.Masked {
		Mask(f.Key, b[start:])
	}
	return b
}

// Mask XORs b with key in place (RFC 6455 §5.3); it also unmasks. It works
// a word at a time so that tests of multi-megabyte frames stay quick.
func Mask(key [4]byte, b []byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k := uint64(k32)<<32 | uint64(k32)
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// ErrPayloadTooLarge is returned by ReadFrame for a frame announcing more
// payload than the caller allows.
var ErrPayloadTooLarge = errors.New("rawpeer: frame payload over the limit")

// ReadFrame reads and decodes one frame, whatever it contains. It returns
// io.EOF if r ends before the frame begins and io.ErrUnexpectedEOF if it
// ends inside it. A header announcing more than maxPayload bytes is
// returned with ErrPayloadTooLarge and the payload left unread, so a
// corrupt length cannot make it allocate without bound.
func ReadFrame(r io.Reader, maxPayload uint64) (Frame, error) {
	var f Frame
	raw := make([]byte, 2, 14)
	if _, err := io.ReadFull(r, raw); err != nil {
		return f, err
	}
	f.Fin = raw[0]&0x80 != 0
	f.Rsv = raw[0] & (Rsv1 | Rsv2 | Rsv3)
	f.Opcode = raw[0] & 0x0F
	f.Masked = raw[1]&0x80 != 0
	ext := 0
	switch l := raw[1] & 0x7F; l {
	case 126:
		f.LenEnc, ext = Len16, 2
	case 127:
		f.LenEnc, ext = Len64, 8
	default:
		f.LenEnc, f.Length = Len7, uint64(l)
	}
	if f.Masked {
		ext += 4
	}
	raw = raw[:2+ext]
	if _, err := io.ReadFull(r, raw[2:]); err != nil {
		return f, unexpected(err)
	}
	switch f.LenEnc {
	case Len16:
		f.Length = uint64(binary.BigEndian.Uint16(raw[2:]))
	case Len64:
		f.Length = binary.BigEndian.Uint64(raw[2:])
	}
	if f.Masked {
		copy(f.Key[:], raw[len(raw)-4:])
	}
	if f.Length > maxPayload {
		f.Raw = raw
		return f, fmt.Errorf("%w: %d bytes announced, %d allowed", ErrPayloadTooLarge, f.Length, maxPayload)
	}
	hl := len(raw)
	raw = append(make([]byte, 0, uint64(hl)+f.Length), raw...)[:uint64(hl)+f.Length]
	if _, err := io.ReadFull(r, raw[hl:]); err != nil {
		return f, unexpected(err)
	}
	f.Raw = raw
	f.Payload = append([]byte(nil), raw[hl:]...)
	if f.Masked {
		Mask(f.Key, f.Payload)
	}
	return f, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// CheckWellFormed reports the first way f breaks RFC 6455 for a frame
// sent by a server (fromClient false) or a client without extensions:
// masking by role, reserved bits, reserved opcodes, the control frame
// rules and the minimal length encoding.
func CheckWellFormed(f Frame, fromClient bool) error {
	switch {
	case fromClient && !f.Masked:
		return errors.New("client frame is not masked")
	case !fromClient && f.Masked:
		return errors.New("server frame is masked")
	case f.Rsv != 0:
		return fmt.Errorf("reserved bits %#x set", f.Rsv)
	case f.Opcode > OpBinary && f.Opcode < OpClose || f.Opcode > OpPong:
		return fmt.Errorf("reserved opcode %#x", f.Opcode)
	case f.LenEnc != MinimalLen(f.Length):
		return fmt.Errorf("length %d sent in the %v form, not the minimal %v", f.Length, f.LenEnc, MinimalLen(f.Length))
	}
	if IsControl(f.Opcode) {
		if !f.Fin {
			return errors.New("fragmented control frame")
		}
		if f.Length > 125 {
			return fmt.Errorf("control frame with %d bytes of payload", f.Length)
		}
	}
	if f.Opcode == OpClose {
		switch len(f.Payload) {
		case 0:
		case 1:
			return errors.New("close frame with a 1-byte payload")
		default:
			if !utf8.Valid(f.Payload[2:]) {
				return fmt.Errorf("close reason %q is not UTF-8", f.Payload[2:])
			}
		}
	}
	return nil
}
