package rawpeer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// DefaultTimeout bounds each wait of a Conn: one frame read, one write.
const DefaultTimeout = 10 * time.Second

// Conn is one side of a WebSocket connection after the opening handshake,
// driven byte by byte by a test. A Conn made by Dial is a client and
// masks what WriteFrame sends; one made by Listener.Accept is a server and
// does not.
//
// The Want and Write methods end the test with tb.Fatalf, so only the test
// goroutine may call them; other goroutines use ReadFrame and Write.
type Conn struct {
	tb     testing.TB
	nc     net.Conn
	br     *bufio.Reader
	client bool

	// Timeout bounds each read of a frame and each write; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxPayload is the largest frame payload ReadFrame accepts; zero
	// means 64 MiB.
	MaxPayload uint64
}

func newConn(tb testing.TB, nc net.Conn, br *bufio.Reader, client bool) *Conn {
	c := &Conn{tb: tb, nc: nc, br: br, client: client}
	tb.Cleanup(func() { c.nc.Close() })
	return c
}

// NewConn drives nc, a connection whose opening handshake is already
// done (or that never had one, such as one end of a net.Pipe), as a
// client when client is true and as a server otherwise. nc is closed
// when tb ends.
func NewConn(tb testing.TB, nc net.Conn, client bool) *Conn {
	return newConn(tb, nc, bufio.NewReader(nc), client)
}

// NetConn returns the TCP connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// IsClient reports whether this peer is the client of the connection.
func (c *Conn) IsClient() bool { return c.client }

func (c *Conn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Encode returns the wire bytes of f as this peer sends it by its role:
// masked with a fresh random key by a client, unmasked by a server. Every
// other field, including illegal ones, is kept.
func (c *Conn) Encode(f Frame) []byte {
	return AppendFrame(nil, c.role(f))
}

func (c *Conn) role(f Frame) Frame {
	f.Masked = c.client
	f.Key = [4]byte{}
	if c.client {
		binary.LittleEndian.PutUint32(f.Key[:], rand.Uint32()|1)
	}
	return f
}

// WriteFrame sends f, masked as the role asks (see Encode).
func (c *Conn) WriteFrame(f Frame) {
	c.tb.Helper()
	c.WriteRaw(c.Encode(f))
}

// WriteHeader sends only the header of f, announcing f.Length bytes,
// masked as the role asks. A test that never sends the payload can check
// that the other side acts on the header alone.
func (c *Conn) WriteHeader(f Frame) {
	c.tb.Helper()
	c.WriteRaw(AppendHeader(nil, c.role(f)))
}

// WriteRaw sends b as it is.
func (c *Conn) WriteRaw(b []byte) {
	c.tb.Helper()
	if err := c.Write(b); err != nil {
		c.tb.Fatalf("rawpeer: write %d bytes: %v", len(b), err)
	}
}

// Write sends b as it is and returns the error.
func (c *Conn) Write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout()))
	_, err := c.nc.Write(b)
	return err
}

// ReadFrame reads the next frame, waiting at most Timeout, and returns it
// without judging it.
func (c *Conn) ReadFrame() (Frame, error) {
	max := c.MaxPayload
	if max == 0 {
		max = 64 << 20
	}
	c.nc.SetReadDeadline(time.Now().Add(c.timeout()))
	return ReadFrame(c.br, max)
}

// WantFrame reads the next frame and checks that it is well formed for
// the other side's role (see CheckWellFormed).
func (c *Conn) WantFrame() Frame {
	c.tb.Helper()
	f, err := c.ReadFrame()
	if err != nil {
		c.tb.Fatalf("rawpeer: want a frame: %v", err)
	}
	if err := CheckWellFormed(f, !c.client); err != nil {
		c.tb.Fatalf("rawpeer: malformed frame %v: %v", f, err)
	}
	return f
}

// Message is a data message as WantMessage received it.
type Message struct {
	Opcode   byte
	Payload  []byte
	Frames   []Frame // the data frames, in order
	Controls []Frame // pings and pongs that arrived before the last data frame
}

// WantMessage reads frames until a whole data message has arrived,
// collecting pings and pongs on the way. A close frame, or frames that do
// not form one message, end the test.
func (c *Conn) WantMessage() Message {
	c.tb.Helper()
	var m Message
	for {
		f := c.WantFrame()
		switch {
		case f.Opcode == OpClose:
			c.tb.Fatalf("rawpeer: want a message, got close frame %v", f)
		case IsControl(f.Opcode):
			m.Controls = append(m.Controls, f)
			continue
		case f.Opcode == OpContinuation:
			if len(m.Frames) == 0 {
				c.tb.Fatalf("rawpeer: continuation frame %v with no message in progress", f)
			}
		default:
			if len(m.Frames) > 0 {
				c.tb.Fatalf("rawpeer: frame %v starts a message inside a fragmented one", f)
			}
			m.Opcode = f.Opcode
		}
		m.Frames = append(m.Frames, f)
		m.Payload = append(m.Payload, f.Payload...)
		if f.Fin {
			return m
		}
	}
}

// WantClose reads the next frame, which must be a close frame with code
// (NoStatus: an empty payload), and returns its reason.
func (c *Conn) WantClose(code int) string {
	c.tb.Helper()
	f := c.WantFrame()
	if f.Opcode != OpClose {
		c.tb.Fatalf("rawpeer: want close %s, got frame %v", codeString(code), f)
	}
	if code == NoStatus {
		if len(f.Payload) != 0 {
			c.tb.Fatalf("rawpeer: want close frame without payload, got %v", f)
		}
		return ""
	}
	if len(f.Payload) < 2 {
		c.tb.Fatalf("rawpeer: want close %d, got close frame without a code", code)
	}
	if got := int(binary.BigEndian.Uint16(f.Payload)); got != code {
		c.tb.Fatalf("rawpeer: want close %d, got close %d %q", code, got, f.Payload[2:])
	}
	return string(f.Payload[2:])
}

func codeString(code int) string {
	if code == NoStatus {
		return "without status"
	}
	return fmt.Sprint(code)
}

// WantEOF checks that the other side closes the connection without
// sending anything more.
func (c *Conn) WantEOF() {
	c.tb.Helper()
	f, err := c.ReadFrame()
	switch {
	case err == nil:
		c.tb.Fatalf("rawpeer: want the connection closed, got frame %v", f)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.tb.Fatalf("rawpeer: want the connection closed, still open after %v", c.timeout())
	case err != io.EOF:
		c.tb.Fatalf("rawpeer: want the connection closed cleanly: %v", err)
	}
}

// WantSilence checks that nothing arrives for d.
func (c *Conn) WantSilence(d time.Duration) {
	c.tb.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.Peek(1)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		c.tb.Fatalf("rawpeer: want silence for %v, got %q, %v", d, b, err)
	}
}

// CloseWrite shuts down the sending half of the TCP connection, so the
// other side reads EOF.
func (c *Conn) CloseWrite() {
	c.tb.Helper()
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		c.tb.Fatalf("rawpeer: close write: %v", err)
	}
}

// Finish ends the conversation: it shuts down sending, checks that the
// other side closes the connection without sending anything more, and
// closes it.
func (c *Conn) Finish() {
	c.tb.Helper()
	c.CloseWrite()
	c.WantEOF()
	c.nc.Close()
}

// Close closes the TCP connection.
func (c *Conn) Close() error { return c.nc.Close() }
