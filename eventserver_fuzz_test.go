package wsx

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// arrivalConn gives an EventServer's read path its input as a socket
// would: the bytes that have arrived, then errWouldBlock until more
// arrive, then io.EOF. Writes are recorded as scriptConn records them.
type arrivalConn struct {
	scriptConn
	data          []byte
	arrived, read int
}

func (c *arrivalConn) arrive(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arrived = min(len(c.data), c.arrived+n)
}

func (c *arrivalConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.read == c.arrived {
		if c.arrived == len(c.data) {
			return 0, io.EOF
		}
		return 0, errWouldBlock
	}
	n := copy(p, c.data[c.read:c.arrived])
	c.read += n
	return n, nil
}

// FuzzEventServe feeds arbitrary bytes, arriving chunk bytes at a time, to
// the read path of a connection an EventServer serves, a readable turn
// after each arrival, and checks the messages it hands to OnMessage, the
// pongs and close frame it sends and the error it ends with against
// refRead, as FuzzReadFrames does for a connection read with Read.
func FuzzEventServe(f *testing.F) {
	for i, s := range seedFrames(true) {
		f.Add(s, uint8(i%7))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const limit = 1000
		wantMsgs, wantPings, wantEnd := refRead(in, false, limit)

		nc := &arrivalConn{data: bytes.Clone(in)}
		c := newConn(nc, false, nil, "", connConfig{readLimit: limit})
		c.evented = true
		var msgs []refMsg
		s := &EventServer{OnMessage: func(_ *Conn, typ MessageType, p []byte) {
			msgs = append(msgs, refMsg{typ, bytes.Clone(p)})
		}}
		step := max(int(chunk), 1)
		var msg []byte
		for turn := 0; c.readErr == nil && !c.isClosed(); turn++ {
			if turn > 2*len(in)+10 {
				t.Fatalf("no end after %d readable turns", turn)
			}
			nc.arrive(step)
			msg = c.serveReadable(s, msg)
			c.flushForRead()
		}
		err := c.readErr
		c.CloseNow()
		checkMessages(t, msgs, err, wantMsgs, wantEnd)
		checkWritten(t, nc.written(), false, wantPings, wantEnd)
	})
}
