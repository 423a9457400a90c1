package wsx

import (
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// recordingConn records the size of every write made to a connection.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestServerFrameWrites checks how a server's data frame reaches the
// connection at each size: whole from the write buffer while it fits,
// header and payload as two buffers of one vectored write (written one
// after the other on a connection without writev) up to leadWriteMin, and
// from there the header with as much payload as fills the write buffer,
// then the rest. Whatever the split, the peer receives one frame with the
// payload intact.
func TestServerFrameWrites(t *testing.T) {
	tests := []struct {
		name string
		size int
		want func(hl, n int) []int // the sizes of the writes
	}{
		{"fits the buffer", writeBufSize - 4, func(hl, n int) []int { return []int{hl + n} }},
		{"just over the buffer", writeBufSize + 1, func(hl, n int) []int { return []int{hl, n} }},
		{"below leadWriteMin", leadWriteMin - 1, func(hl, n int) []int { return []int{hl, n} }},
		{"at leadWriteMin", leadWriteMin, func(hl, n int) []int { return []int{writeBufSize, hl + n - writeBufSize} }},
		{"1 MiB", 1 << 20, func(hl, n int) []int { return []int{writeBufSize, hl + n - writeBufSize} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			rc := &recordingConn{Conn: a}
			c := newConn(rc, false, nil, "", connConfig{})
			defer c.CloseNow()
			peer := rawpeer.NewConn(t, b, true)
			payload := make([]byte, tt.size)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			errc := make(chan error, 1)
			go func() { errc <- c.Write(context.Background(), MessageBinary, payload) }()
			f := peer.WantFrame()
			if err := <-errc; err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !f.Fin || f.Opcode != rawpeer.OpBinary || !bytes.Equal(f.Payload, payload) {
				t.Fatalf("got frame fin=%v opcode=%d with %d bytes, want the final binary frame of %d bytes as written", f.Fin, f.Opcode, len(f.Payload), tt.size)
			}
			rc.mu.Lock()
			got := slices.Clone(rc.writes)
			rc.mu.Unlock()
			if want := tt.want(headerLen(int64(tt.size), false), tt.size); !slices.Equal(got, want) {
				t.Errorf("writes of %v bytes, want %v", got, want)
			}
		})
	}
}
