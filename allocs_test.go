package wsx_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// allocsUnderRace reports whether the test binary was built with -race, under
// which sync.Pool drops items at random, so pooled buffers are allocated
// again and allocation counts mean nothing.
func allocsUnderRace() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

var errPeerMismatch = errors.New("peer received a different message")

// allocPeer is the other end of a measured Conn, speaking RFC 6455 on the
// raw TCP connection with buffers it allocates up front, so that every
// allocation AllocsPerRun counts is the measured Conn's.
type allocPeer struct {
	nc      net.Conn
	br      *bufio.Reader
	masks   bool   // the peer is a client and masks its frames
	frame   []byte // one whole message, sent again and again
	payload []byte // the message's payload, which must come back
	got     []byte
	hdr     [14]byte
	done    chan error
}

func newAllocPeer(nc net.Conn, br *bufio.Reader, masks bool, payload []byte) *allocPeer {
	p := &allocPeer{nc: nc, br: br, masks: masks, payload: payload, got: make([]byte, len(payload)), done: make(chan error, 1)}
	p.frame = allocFrame(true, 0x2, masks, payload)
	return p
}

// allocFrame encodes one frame (RFC 6455 §5.2) with a fixed masking key.
func allocFrame(fin bool, op byte, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	if masked {
		b = append(b, key[:]...)
	}
	for i, c := range payload {
		if masked {
			c ^= key[i%4]
		}
		b = append(b, c)
	}
	return b
}

// run sends the message and reads it back, frame by frame, until the
// connection fails; it reports errPeerMismatch if an echo differs.
func (p *allocPeer) run() {
	for {
		if _, err := p.nc.Write(p.frame); err != nil {
			p.done <- err
			return
		}
		n := 0
		for fin := false; !fin; {
			if _, err := io.ReadFull(p.br, p.hdr[:2]); err != nil {
				p.done <- err
				return
			}
			fin = p.hdr[0]&0x80 != 0
			masked := p.hdr[1]&0x80 != 0
			ext := 0
			switch p.hdr[1] & 0x7F {
			case 126:
				ext = 2
			case 127:
				ext = 8
			}
			if masked {
				ext += 4
			}
			if _, err := io.ReadFull(p.br, p.hdr[2:2+ext]); err != nil {
				p.done <- err
				return
			}
			length := int(p.hdr[1] & 0x7F)
			switch length {
			case 126:
				length = int(binary.BigEndian.Uint16(p.hdr[2:]))
			case 127:
				length = int(binary.BigEndian.Uint64(p.hdr[2:]))
			}
			if masked == p.masks || n+length > len(p.got) {
				p.done <- errPeerMismatch
				return
			}
			chunk := p.got[n : n+length]
			if _, err := io.ReadFull(p.br, chunk); err != nil {
				p.done <- err
				return
			}
			if masked {
				key := p.hdr[2+ext-4 : 2+ext]
				for i := range chunk {
					chunk[i] ^= key[i%4]
				}
			}
			n += length
		}
		if !bytes.Equal(p.got[:n], p.payload) {
			p.done <- errPeerMismatch
			return
		}
	}
}

// stop closes the peer's connection and checks that it saw only correct
// echoes.
func (p *allocPeer) stop(t *testing.T) {
	t.Helper()
	p.nc.Close()
	if err := <-p.done; errors.Is(err, errPeerMismatch) {
		t.Fatal(err)
	}
}

// allocServer returns a server Conn whose client is a allocPeer.
func allocServer(t *testing.T, payload []byte) (*wsx.Conn, *allocPeer) {
	t.Helper()
	conns := make(chan *wsx.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", srv.Listener.Addr(), key)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		t.Fatalf("handshake: %v, %v", resp, err)
	}
	c := <-conns
	return c, newAllocPeer(nc, br, true, payload)
}

// allocClient returns a client Conn whose server is a allocPeer.
func allocClient(t *testing.T, payload []byte) (*wsx.Conn, *allocPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		nc  net.Conn
		br  *bufio.Reader
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			ch <- accepted{err: err}
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		ch <- accepted{nc: nc, br: br}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
	a := <-ch
	if err != nil || a.err != nil {
		if a.nc != nil {
			a.nc.Close()
		}
		t.Fatalf("dial: %v; server: %v", err, a.err)
	}
	return c, newAllocPeer(a.nc, a.br, false, payload)
}

var allocSizes = []int{16, 1 << 10, 64 << 10, 256 << 10}

type allocRole struct {
	name  string
	setup func(*testing.T, []byte) (*wsx.Conn, *allocPeer)
}

var allocRoles = []allocRole{{"server", allocServer}, {"client", allocClient}}

// TestEchoAllocs proves that an echo loop that reads with
// AppendMessage(ctx, buf[:0]) and writes with Write allocates nothing per
// message once its buffer has grown.
func TestEchoAllocs(t *testing.T) {
	if allocsUnderRace() {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, role := range allocRoles {
		for _, size := range allocSizes {
			t.Run(fmt.Sprintf("%s/%d", role.name, size), func(t *testing.T) {
				payload := bytes.Repeat([]byte("wsx!"), size/4)
				c, peer := role.setup(t, payload)
				defer c.CloseNow()
				go peer.run()
				ctx := context.Background()
				var buf []byte
				var failed error
				echo := func() {
					typ, p, err := c.AppendMessage(ctx, buf[:0])
					if err == nil {
						buf = p
						err = c.Write(ctx, typ, p)
					}
					if err != nil && failed == nil {
						failed = err
					}
				}
				for range 10 { // grow buf and fill the pools
					echo()
				}
				allocs := testing.AllocsPerRun(200, echo)
				if failed != nil {
					t.Fatal(failed)
				}
				if !bytes.Equal(buf, payload) {
					t.Fatalf("read %d bytes, want the %d-byte message", len(buf), len(payload))
				}
				peer.stop(t)
				if allocs != 0 {
					t.Fatalf("%v allocations per echoed message, want 0", allocs)
				}
			})
		}
	}
}

// TestStreamAllocs proves the same for echoing through Reader and Writer
// with io.CopyBuffer and a reused buffer.
func TestStreamAllocs(t *testing.T) {
	if allocsUnderRace() {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, role := range allocRoles {
		for _, size := range allocSizes {
			t.Run(fmt.Sprintf("%s/%d", role.name, size), func(t *testing.T) {
				payload := bytes.Repeat([]byte("wsx!"), size/4)
				c, peer := role.setup(t, payload)
				defer c.CloseNow()
				go peer.run()
				ctx := context.Background()
				buf := make([]byte, 32<<10)
				var failed error
				echo := func() {
					err := func() error {
						typ, r, err := c.Reader(ctx)
						if err != nil {
							return err
						}
						w, err := c.Writer(ctx, typ)
						if err != nil {
							return err
						}
						if _, err := io.CopyBuffer(w, r, buf); err != nil {
							w.Close()
							return err
						}
						return w.Close()
					}()
					if err != nil && failed == nil {
						failed = err
					}
				}
				for range 10 {
					echo()
				}
				allocs := testing.AllocsPerRun(200, echo)
				if failed != nil {
					t.Fatal(failed)
				}
				peer.stop(t)
				if allocs != 0 {
					t.Fatalf("%v allocations per streamed message, want 0", allocs)
				}
			})
		}
	}
}

// TestAllocsPeerChecks makes sure the raw peer notices a wrong echo, so the
// tests above cannot pass by echoing garbage.
func TestAllocsPeerChecks(t *testing.T) {
	payload := []byte(strings.Repeat("a", 100))
	c, peer := allocServer(t, payload)
	defer c.CloseNow()
	go peer.run()
	ctx := context.Background()
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, wsx.MessageBinary, []byte(strings.Repeat("b", 100))); err != nil {
		t.Fatal(err)
	}
	if err := <-peer.done; !errors.Is(err, errPeerMismatch) {
		t.Fatalf("peer returned %v for a wrong echo, want errPeerMismatch", err)
	}
	peer.nc.Close()
}
