//go:build linux

package interop

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// tap is a TCP relay between clients and a server that records every
// WebSocket frame passing each way. It shows what a peer that cannot be
// scripted, such as the libwebsockets test client, actually sent and was
// sent: close codes included.
type tap struct {
	ln     net.Listener
	target string

	wg sync.WaitGroup

	mu     sync.Mutex
	conns  []*tapConn // in order of arrival
	open   []net.Conn // both ends of every relayed connection
	closed bool       // set by close; no connection is relayed after it
}

// tapConn is what passed through one relayed connection.
type tapConn struct {
	mu       sync.Mutex
	request  string // the client's handshake header block
	response string // the server's
	toServer []rawpeer.Frame
	toClient []rawpeer.Frame
}

// maxTapPayload bounds the frames the tap decodes; it only meets the test
// client's frames, which are far smaller.
const maxTapPayload = 64 << 20

// startTap relays connections from a new listener on 127.0.0.1 to target
// until the test ends.
func startTap(t *testing.T, target string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{ln: ln, target: target}
	tp.wg.Add(1)
	go tp.serve()
	t.Cleanup(tp.close)
	return tp
}

func (tp *tap) addr() string { return tp.ln.Addr().String() }

func (tp *tap) serve() {
	defer tp.wg.Done()
	for {
		client, err := tp.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", tp.target)
		if err != nil {
			client.Close()
			continue
		}
		tc := &tapConn{}
		tp.mu.Lock()
		if tp.closed {
			tp.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		tp.conns = append(tp.conns, tc)
		tp.open = append(tp.open, client, server)
		tp.mu.Unlock()
		var both sync.WaitGroup
		both.Add(2)
		tp.wg.Add(3)
		go func() {
			defer tp.wg.Done()
			defer both.Done()
			relay(server, client, &tc.request, &tc.toServer, &tc.mu)
		}()
		go func() {
			defer tp.wg.Done()
			defer both.Done()
			relay(client, server, &tc.response, &tc.toClient, &tc.mu)
		}()
		go func() {
			defer tp.wg.Done()
			both.Wait()
			client.Close()
			server.Close()
		}()
	}
}

// relay copies src to dst: first the HTTP header block, recorded in head,
// then frame by frame, each recorded in frames. When src ends, dst's
// sending half is shut down so that the far end sees the same EOF.
func relay(dst, src net.Conn, head *string, frames *[]rawpeer.Frame, mu *sync.Mutex) {
	defer func() {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	br := bufio.NewReader(src)
	var h strings.Builder
	for {
		line, err := br.ReadString('\n')
		h.WriteString(line)
		if _, werr := io.WriteString(dst, line); werr != nil || err != nil {
			return
		}
		if line == "\r\n" {
			break
		}
	}
	mu.Lock()
	*head = h.String()
	mu.Unlock()
	dstGone := false
	for {
		f, err := rawpeer.ReadFrame(br, maxTapPayload)
		if err != nil {
			if !errors.Is(err, io.EOF) && !dstGone {
				// Pass on whatever is left undecoded.
				dst.Write(f.Raw)
				io.Copy(dst, br)
			}
			return
		}
		raw := f.Raw
		f.Raw = nil
		mu.Lock()
		*frames = append(*frames, f)
		mu.Unlock()
		if dstGone {
			continue
		}
		if _, err := dst.Write(raw); err != nil {
			// Keep reading: what src sends after dst went away is
			// part of the record too.
			dstGone = true
		}
	}
}

// close stops accepting, lets the relayed connections end by themselves
// so that their last frames are recorded, and cuts those still open after
// a few seconds. It returns when every relay goroutine has ended.
func (tp *tap) close() {
	tp.ln.Close()
	tp.mu.Lock()
	tp.closed = true
	tp.mu.Unlock()
	done := make(chan struct{})
	go func() {
		tp.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	tp.mu.Lock()
	for _, c := range tp.open {
		c.Close()
	}
	tp.mu.Unlock()
	<-done
}

// connections returns a snapshot of what passed through so far.
func (tp *tap) connections() []tapSnapshot {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []tapSnapshot
	for _, tc := range tp.conns {
		tc.mu.Lock()
		out = append(out, tapSnapshot{
			request:  tc.request,
			response: tc.response,
			toServer: append([]rawpeer.Frame(nil), tc.toServer...),
			toClient: append([]rawpeer.Frame(nil), tc.toClient...),
		})
		tc.mu.Unlock()
	}
	return out
}

type tapSnapshot struct {
	request, response  string
	toServer, toClient []rawpeer.Frame
}

// last returns what passed through the most recent connection.
func (tp *tap) last(t *testing.T) tapSnapshot {
	t.Helper()
	conns := tp.connections()
	if len(conns) == 0 {
		t.Fatal("no connection went through the tap")
	}
	return conns[len(conns)-1]
}

// wantFragments checks that the data frames in fs form one message of
// type op sent as the given fragments: the first frame carries op, the
// rest are continuations, and only the last is final. A final empty
// continuation after the parts is allowed: Python's websockets ends a
// message sent from an iterable that way, not knowing which part is last.
// The connection must not have agreed on compression: no RSV bit may be
// set, and each payload must be its part exactly.
func wantFragments(t *testing.T, who string, fs []rawpeer.Frame, op byte, parts [][]byte) {
	t.Helper()
	data := dataFrames(fs)
	if n := len(data); n == len(parts)+1 && data[n-1].Opcode == rawpeer.OpContinuation && data[n-1].Fin && len(data[n-1].Payload) == 0 {
		parts = append(parts[:len(parts):len(parts)], []byte{})
	}
	if len(data) != len(parts) {
		t.Fatalf("%s sent the message in %d frames %v, want %d", who, len(data), data, len(parts))
	}
	for i, f := range data {
		wantOp := rawpeer.OpContinuation
		if i == 0 {
			wantOp = op
		}
		if f.Opcode != wantOp || f.Fin != (i == len(data)-1) || f.Rsv != 0 || !bytes.Equal(f.Payload, parts[i]) {
			t.Fatalf("%s: frame %d is %v, want opcode %#x fin %t rsv 0 payload %s", who, i, f, wantOp, i == len(data)-1, preview(parts[i]))
		}
	}
}
