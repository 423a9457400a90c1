//go:build linux

package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// serverCaps says which cases a server peer can take part in.
type serverCaps struct {
	splitRunes    bool // its fragments may split a UTF-8 character
	closeNoStatus bool // sends a close frame without a status code
	reportsPings  bool // tells which pings it received
}

func TestDial(t *testing.T) {
	servers := []struct {
		name  string
		caps  serverCaps
		start func(t *testing.T) *peer
	}{
		{
			name: "node-ws",
			caps: serverCaps{splitRunes: true, closeNoStatus: true, reportsPings: true},
			start: func(t *testing.T) *peer {
				needNode(t)
				return startPeer(t, "node ws server", nodeDir, "node", "peer.mjs", "server")
			},
		},
		{
			name: "python-websockets",
			start: func(t *testing.T) *peer {
				needPython(t)
				return startPeer(t, "python websockets server", pythonDir, systemPython, "peer.py", "server")
			},
		},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			p := s.start(t)
			r := p.next(t, "listen", 30*time.Second)
			if r.Port <= 0 || r.Port > 65535 {
				t.Fatalf("%s printed port %d", p.name, r.Port)
			}
			// Through a tap, what each side put on the wire can be seen.
			tp := startTap(t, fmt.Sprintf("127.0.0.1:%d", r.Port))
			testDial(t, p, s.caps, "ws://"+tp.addr()+"/interop?x=1", tp)
		})
	}
}

// dialPeer connects to the peer server, which reports the request path it
// saw. The connection is closed at the latest when the test ends.
func dialPeer(t *testing.T, p *peer, url string, opts *wsx.DialOptions) *wsx.Conn {
	t.Helper()
	p.send(t, request{Op: "accept"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := wsx.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial returned status %d, want 101", resp.StatusCode)
	}
	r := p.next(t, "accept", 20*time.Second)
	if r.Path != "/interop?x=1" {
		t.Fatalf("%s saw request path %q, want /interop?x=1", p.name, r.Path)
	}
	return c
}

func typeName(typ wsx.MessageType) string {
	if typ == wsx.MessageText {
		return "text"
	}
	return "binary"
}

// wantRead reads the next message and checks its type and content.
func wantRead(t *testing.T, c *wsx.Conn, typ wsx.MessageType, want []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gotTyp, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v, want a %s message of %d bytes", err, typeName(typ), len(want))
	}
	if gotTyp != typ || !bytes.Equal(got, want) {
		t.Fatalf("Read a %s message of %d bytes %s, want %s of %d bytes %s",
			typeName(gotTyp), len(got), preview(got), typeName(typ), len(want), preview(want))
	}
}

// wantReadErr reads and checks that the read fails with an error that
// errors.Is target.
func wantReadErr(t *testing.T, c *wsx.Conn, target error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, got, err := c.Read(ctx)
	if err == nil {
		t.Fatalf("Read a %s message of %d bytes %s, want an error wrapping %v", typeName(typ), len(got), preview(got), target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("Read: %v, want an error wrapping %v", err, target)
	}
	return err
}

// closeConn performs the closing handshake from our side and checks the
// peer saw our code and reason.
func closeConn(t *testing.T, p *peer, c *wsx.Conn, code wsx.StatusCode, reason string) {
	t.Helper()
	if err := c.Close(code, reason); err != nil {
		t.Fatalf("Close(%d, %q): %v", code, reason, err)
	}
	r := p.call(t, request{Op: "wait_close"})
	wantClosed(t, p.name, r, int(code), reason, false)
}

type readResult struct {
	typ  wsx.MessageType
	data []byte
	err  error
}

// readInBackground starts a read, which also answers pings and sees
// pongs, and returns where its result will arrive.
func readInBackground(c *wsx.Conn) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		typ, data, err := c.Read(ctx)
		ch <- readResult{typ, data, err}
	}()
	return ch
}

func testDial(t *testing.T, p *peer, caps serverCaps, url string, tp *tap) {
	t.Helper()
	big := 1 << 20
	payloads := []struct {
		name string
		typ  wsx.MessageType
		data []byte
	}{
		{"text", wsx.MessageText, textOf(40)},
		{"binary", wsx.MessageBinary, binaryOf(300)},
		{"empty-text", wsx.MessageText, []byte{}},
		{"empty-binary", wsx.MessageBinary, []byte{}},
		{"1MiB-text", wsx.MessageText, textOf(big)},
		{"1MiB-binary", wsx.MessageBinary, binaryOf(big)},
	}
	for _, m := range payloads {
		t.Run("echo-"+m.name, func(t *testing.T) {
			// Our message reaches the peer intact, and the peer's
			// reaches us.
			c := dialPeer(t, p, url, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Write(ctx, m.typ, m.data); err != nil {
				t.Fatalf("Write: %v", err)
			}
			p.wantMessage(t, typeName(m.typ), m.data)
			p.call(t, request{Op: "send", Type: typeName(m.typ), Parts: [][]byte{m.data}})
			wantRead(t, c, m.typ, m.data)
			closeConn(t, p, c, wsx.StatusNormalClosure, "")
		})
	}

	fragmented := []struct {
		name  string
		typ   wsx.MessageType
		parts [][]byte
		split bool // fragments split UTF-8 characters
	}{
		{name: "text", typ: wsx.MessageText, parts: [][]byte{[]byte("frag"), []byte("mented ✓"), []byte(" text")}},
		{name: "binary", typ: wsx.MessageBinary, parts: [][]byte{binaryOf(10), {}, binaryOf(70000)}},
		{name: "text-split-runes", typ: wsx.MessageText, split: true,
			parts: [][]byte{[]byte("a\xc3"), []byte("\xa9\xe2\x9c"), []byte("\x93\xf0\x9d"), []byte("\x84\x9e")}},
	}
	for _, m := range fragmented {
		if m.split && !caps.splitRunes {
			continue
		}
		t.Run("fragmented-from-peer-"+m.name, func(t *testing.T) {
			c := dialPeer(t, p, url, nil)
			p.call(t, request{Op: "send", Type: typeName(m.typ), Parts: m.parts})
			wantRead(t, c, m.typ, bytes.Join(m.parts, nil))
			wantFragments(t, p.name, tp.last(t).toClient, byte(m.typ), m.parts)
			closeConn(t, p, c, wsx.StatusNormalClosure, "")
		})
	}

	t.Run("fragmented-to-peer", func(t *testing.T) {
		// A message streamed through Writer, cut inside characters,
		// arrives whole; so does a large binary one.
		c := dialPeer(t, p, url, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msgs := []struct {
			typ    wsx.MessageType
			chunks [][]byte
		}{
			{wsx.MessageText, [][]byte{[]byte("a\xc3"), []byte("\xa9 "), textOf(100000), []byte(" \xf0\x9d\x84"), []byte("\x9e")}},
			{wsx.MessageBinary, [][]byte{binaryOf(200000), {}, binaryOf(3), binaryOf(300000)}},
		}
		for _, m := range msgs {
			w, err := c.Writer(ctx, m.typ)
			if err != nil {
				t.Fatalf("Writer: %v", err)
			}
			for _, b := range m.chunks {
				if _, err := w.Write(b); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close writer: %v", err)
			}
			p.wantMessage(t, typeName(m.typ), bytes.Join(m.chunks, nil))
		}
		// Each message went out as several masked frames.
		frames := dataFrames(tp.last(t).toServer)
		var msg []byte
		n, i := 0, 0
		for _, f := range frames {
			if !f.Masked {
				t.Fatalf("frame %v from Dial is not masked", f)
			}
			msg = append(msg, f.Payload...)
			n++
			if !f.Fin {
				continue
			}
			if i >= len(msgs) || n < 2 || !bytes.Equal(msg, bytes.Join(msgs[i].chunks, nil)) {
				t.Fatalf("message %d went out in %d frames of %d bytes in all; want at least 2 frames with the %d bytes written", i, n, len(msg), len(bytes.Join(msgs[i].chunks, nil)))
			}
			msg, n = nil, 0
			i++
		}
		if i != len(msgs) {
			t.Fatalf("the tap saw %d whole messages, want %d", i, len(msgs))
		}
		closeConn(t, p, c, wsx.StatusNormalClosure, "")
	})

	t.Run("sequence", func(t *testing.T) {
		// Messages of both types and many sizes keep their order both
		// ways.
		c := dialPeer(t, p, url, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		type msg struct {
			typ  wsx.MessageType
			data []byte
		}
		var msgs []msg
		for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 3} {
			m := msg{wsx.MessageBinary, binaryOf(n)}
			if i%2 == 0 {
				m = msg{wsx.MessageText, textOf(n)}
			}
			msgs = append(msgs, m)
			if err := c.Write(ctx, m.typ, m.data); err != nil {
				t.Fatalf("Write: %v", err)
			}
			p.call(t, request{Op: "send", Type: typeName(m.typ), Parts: [][]byte{m.data}})
		}
		for _, m := range msgs {
			p.wantMessage(t, typeName(m.typ), m.data)
		}
		for _, m := range msgs {
			wantRead(t, c, m.typ, m.data)
		}
		closeConn(t, p, c, wsx.StatusNormalClosure, "")
		// Client frames are masked, each with a fresh key (RFC 6455
		// §5.3); a server's are not.
		s := tp.last(t)
		keys := map[[4]byte]bool{}
		for _, f := range s.toServer {
			if !f.Masked {
				t.Fatalf("frame %v from Dial is not masked", f)
			}
			keys[f.Key] = true
		}
		if len(keys) < len(s.toServer)-1 {
			t.Fatalf("%d frames from Dial used only %d masking keys", len(s.toServer), len(keys))
		}
		for _, f := range s.toClient {
			if f.Masked {
				t.Fatalf("frame %v from %s is masked", f, p.name)
			}
		}
	})

	t.Run("ping-from-us", func(t *testing.T) {
		c := dialPeer(t, p, url, nil)
		read := readInBackground(c)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := range 3 {
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping %d: %v", i, err)
			}
		}
		if caps.reportsPings {
			r := p.call(t, request{Op: "pings"})
			if len(r.Pings) != 3 {
				t.Fatalf("%s received %d pings, want 3", p.name, len(r.Pings))
			}
			for i, ping := range r.Pings {
				if len(ping) != 8 {
					t.Fatalf("ping %d carried %q, want an 8-byte payload", i, ping)
				}
			}
		}
		p.call(t, request{Op: "send", Type: "text", Parts: [][]byte{[]byte("after ping")}})
		res := <-read
		if res.err != nil || res.typ != wsx.MessageText || string(res.data) != "after ping" {
			t.Fatalf("Read during Ping: %v %q %v, want text \"after ping\"", typeName(res.typ), res.data, res.err)
		}
		closeConn(t, p, c, wsx.StatusNormalClosure, "")
	})

	t.Run("ping-from-peer", func(t *testing.T) {
		c := dialPeer(t, p, url, nil)
		read := readInBackground(c)
		want := []byte("ping from the peer")
		r := p.call(t, request{Op: "ping", Data: want})
		if !bytes.Equal(r.Pong, want) {
			t.Fatalf("%s got pong %q, want %q", p.name, r.Pong, want)
		}
		p.call(t, request{Op: "send", Type: "binary", Parts: [][]byte{{1, 2, 3}}})
		res := <-read
		if res.err != nil || res.typ != wsx.MessageBinary || !bytes.Equal(res.data, []byte{1, 2, 3}) {
			t.Fatalf("Read: %v %q %v, want binary 010203", typeName(res.typ), res.data, res.err)
		}
		closeConn(t, p, c, wsx.StatusNormalClosure, "")
	})

	for _, cl := range []struct {
		code   wsx.StatusCode
		reason string
	}{
		{4000, "bye"},
		{wsx.StatusNormalClosure, "done"},
		{wsx.StatusGoingAway, ""},
	} {
		t.Run(fmt.Sprintf("close-from-us-%d", cl.code), func(t *testing.T) {
			c := dialPeer(t, p, url, nil)
			closeConn(t, p, c, cl.code, cl.reason)
		})
	}

	peerCloses := []struct {
		name   string
		code   int // 0: no status code
		reason string
		want   wsx.StatusCode
	}{
		{"4001", 4001, "later ✓", 4001},
		{"1000", 1000, "", 1000},
		{"no-status", 0, "", wsx.StatusNoStatusRcvd},
	}
	for _, cl := range peerCloses {
		if cl.code == 0 && !caps.closeNoStatus {
			continue
		}
		t.Run("close-from-peer-"+cl.name, func(t *testing.T) {
			c := dialPeer(t, p, url, nil)
			// The peer waits for our answer, which the read sends.
			req := request{Op: "close", Code: cl.code, Reason: cl.reason}
			p.send(t, req)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, err := c.Read(ctx)
			var ce wsx.CloseError
			if !errors.As(err, &ce) || ce.Code != cl.want || ce.Reason != cl.reason {
				t.Fatalf("Read: %v, want a CloseError with code %d and reason %q", err, cl.want, cl.reason)
			}
			if got := wsx.CloseStatus(err); got != cl.want {
				t.Fatalf("CloseStatus = %d, want %d", got, cl.want)
			}
			r := p.next(t, "close", replyTimeout(req))
			// We echo the code; a close without one gets none back.
			want := int(cl.want)
			wantClosed(t, p.name, r, want, "", true)
			if _, _, err := c.Read(ctx); !errors.Is(err, wsx.ErrClosed) && wsx.CloseStatus(err) != cl.want {
				t.Fatalf("Read after the close: %v, want the close again or ErrClosed", err)
			}
		})
	}

	invalid := []struct {
		name  string
		parts [][]byte
	}{
		{name: "invalid-utf8", parts: [][]byte{[]byte("ok \xc3\x28 not")}},
		{name: "invalid-utf8-surrogate", parts: [][]byte{[]byte("\xed\xa0\x80")}},
		{name: "invalid-utf8-fragmented", parts: [][]byte{[]byte("fine so far "), []byte("\xf0\x9d\x84"), []byte("x")}},
	}
	for _, m := range invalid {
		if len(m.parts) > 1 && !caps.splitRunes {
			continue
		}
		t.Run(m.name+"-from-peer", func(t *testing.T) {
			c := dialPeer(t, p, url, nil)
			p.call(t, request{Op: "send", Type: "text", Parts: m.parts})
			wantReadErr(t, c, wsx.ErrInvalidUTF8)
			r := p.call(t, request{Op: "wait_close"})
			wantClosed(t, p.name, r, 1007, "", true)
		})
	}

	t.Run("message-too-big", func(t *testing.T) {
		const limit = 1000
		c := dialPeer(t, p, url, &wsx.DialOptions{ReadLimit: limit})
		p.call(t, request{Op: "send", Type: "binary", Parts: [][]byte{binaryOf(limit)}})
		wantRead(t, c, wsx.MessageBinary, binaryOf(limit))
		p.call(t, request{Op: "send", Type: "text", Parts: [][]byte{bytes.Repeat([]byte("x"), limit+1)}})
		wantReadErr(t, c, wsx.ErrMessageTooBig)
		r := p.call(t, request{Op: "wait_close"})
		wantClosed(t, p.name, r, 1009, "", true)
	})
}
