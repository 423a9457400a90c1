//go:build linux

package interop

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// The compression tests check permessage-deflate (RFC 7692) three ways on
// every connection: the Sec-WebSocket-Extensions header as each side saw
// it, every message's content after the round trip, and, through a tap,
// the frames themselves: RSV1 on a compressed message's first frame only,
// and payloads that decompress to what was sent while keeping to the
// negotiated window and context takeover.

// Responses of wsx serve to the common offer
// "permessage-deflate; client_max_window_bits", by --compression.
var serveResponses = map[string]string{
	"on":               "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
	"context-takeover": "permessage-deflate",
}

const plainOffer = "permessage-deflate; client_max_window_bits"

type compressionClient struct {
	name  string
	start func(t *testing.T, pageURL string) *peer

	deflate   any    // a ws client's perMessageDeflate option
	compress  bool   // ask the peer to compress what it sends
	offer     string // the offer it sends
	response  map[string]string
	threshold map[string]int  // which of its messages it compresses, by mode: see wantWire
	fragments bool            // sends fragmented messages
	big       map[string]bool // modes in which it sends 1 MiB messages too
}

func TestServeCompression(t *testing.T) {
	bin := buildWSX(t)
	servers := []struct {
		mode string
		srv  *wsxServer
	}{
		// The browser's page comes from the first server; the origin
		// pattern lets it connect to the others.
		{"on", startServe(t, bin, "--compression", "on", "--origin", sameMachine)},
		{"context-takeover", startServe(t, bin, "--compression", "context-takeover", "--origin", sameMachine)},
	}
	// A client that asks for small windows and no context takeover gets
	// them from either server.
	limited := "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"

	clients := []compressionClient{
		{
			name: "node-ws",
			start: func(t *testing.T, _ string) *peer {
				needNode(t)
				return startPeer(t, "node ws client", nodeDir, "node", "peer.mjs", "client")
			},
			compress: true,
			offer:    plainOffer,
			response: serveResponses,
			// ws compresses messages of 1 KiB or more by default,
			// but all of them with context takeover.
			threshold: map[string]int{"on": 1024, "context-takeover": compressAll},
			fragments: true,
			big:       map[string]bool{"context-takeover": true},
		},
		{
			name: "node-ws-small-window",
			start: func(t *testing.T, _ string) *peer {
				needNode(t)
				return startPeer(t, "node ws client", nodeDir, "node", "peer.mjs", "client")
			},
			deflate: map[string]any{
				"threshold":               0,
				"clientNoContextTakeover": true,
				"serverNoContextTakeover": true,
				"serverMaxWindowBits":     10,
			},
			compress:  true,
			offer:     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
			response:  map[string]string{"on": limited, "context-takeover": limited},
			threshold: map[string]int{"on": compressAll, "context-takeover": compressAll},
			fragments: true,
		},
		{
			name: "python-websockets",
			start: func(t *testing.T, _ string) *peer {
				needPython(t)
				return startPeer(t, "python websockets client", pythonDir, systemPython, "peer.py", "client")
			},
			offer:     plainOffer,
			response:  serveResponses,
			threshold: map[string]int{"on": compressAll, "context-takeover": compressAll},
			fragments: true,
			big:       map[string]bool{"on": true},
		},
		{
			name: "chromium",
			start: func(t *testing.T, pageURL string) *peer {
				needChromium(t)
				p := startPeer(t, "chromium", nodeDir, "node", "browser.mjs", pageURL)
				if r := p.next(t, "launch", 60*time.Second); r.Status != 200 {
					t.Fatalf("GET %s (the echo tool page) answered %d, want 200", pageURL, r.Status)
				}
				return p
			},
			offer:    plainOffer,
			response: serveResponses,
			// Chromium 156 compresses every message, even random
			// bytes that come out larger.
			threshold: map[string]int{"on": compressAll, "context-takeover": compressAll},
			big:       map[string]bool{"on": true},
		},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := c.start(t, servers[0].srv.httpURL())
			for _, s := range servers {
				t.Run(s.mode, func(t *testing.T) {
					testServeCompression(t, p, c, s.mode, s.srv)
				})
			}
		})
	}
}

func hostOf(wsURL string) string {
	return strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/")
}

func testServeCompression(t *testing.T, p *peer, c compressionClient, mode string, srv *wsxServer) {
	tp := startTap(t, hostOf(srv.url))
	r := p.call(t, request{Op: "connect", URL: "ws://" + tp.addr() + "/", Deflate: c.deflate})
	want := c.response[mode]
	wantDeflate(t, p.name+" received", r.Extensions, want)

	msgs := compressionMessages(c.big[mode])
	if c.fragments {
		msgs = append(msgs, testMsg{name: "fragmented-compressible-text", typ: "text",
			parts: [][]byte{compressibleText(2000, 90), {}, compressibleText(70000, 91)}})
	}
	for _, m := range msgs {
		p.call(t, request{Op: "send", Type: m.typ, Parts: m.parts, Compress: c.compress})
		p.wantMessage(t, m.typ, m.data())
	}
	cr := p.call(t, request{Op: "close", Code: 1000})
	wantClosed(t, p.name, cr, 1000, "", true)

	s := tp.last(t)
	if got := headerValue(s.request, "Sec-WebSocket-Extensions"); got != c.offer {
		t.Fatalf("%s offered %q, want %q", p.name, got, c.offer)
	}
	ps := wantDeflate(t, "wsx serve sent", headerValue(s.response, "Sec-WebSocket-Extensions"), want)
	srvInf, cliInf := ps.inflaters()

	echoed, pending := readWire(t, "wsx serve", s.toClient, srvInf)
	if pending != 0 {
		t.Fatalf("wsx serve left a message unfinished (%d frames)", pending)
	}
	// wsx serve compresses every message, however small, once
	// compression is agreed.
	wantWire(t, "wsx serve", echoed, msgs, compressAll)
	sent, pending := readWire(t, p.name, s.toServer, cliInf)
	if pending != 0 {
		t.Fatalf("%s left a message unfinished (%d frames)", p.name, pending)
	}
	wantWire(t, p.name, sent, msgs, c.threshold[mode])
	if c.fragments {
		if m := sent[len(sent)-1]; !m.compressed || m.frames < 3 {
			t.Fatalf("%s sent the fragmented message as %d frames, compressed: %t; want a compressed message of 3 frames or more", p.name, m.frames, m.compressed)
		}
	}
	if srvInf.takeover && !reachesBack(echoed) {
		t.Fatalf("wsx serve --compression %s never referred to an earlier message", mode)
	}
	t.Logf("%s: %s", p.name, wireSummary(sent))
	t.Logf("wsx serve: %s", wireSummary(echoed))
}

type compressionServer struct {
	name  string
	start func(t *testing.T) *peer
	// response is the server's answer to each of Dial's offers.
	response map[wsx.CompressionMode]string
	big      map[wsx.CompressionMode]bool
}

func TestDialCompression(t *testing.T) {
	nodeServer := func(opts string) func(t *testing.T) *peer {
		return func(t *testing.T) *peer {
			needNode(t)
			return startPeer(t, "node ws server", nodeDir, "node", "peer.mjs", "server", opts)
		}
	}
	servers := []compressionServer{
		{
			name: "node-ws",
			// threshold 0: ws compresses every message.
			start: nodeServer(`{"perMessageDeflate": {"threshold": 0}}`),
			response: map[wsx.CompressionMode]string{
				wsx.CompressionNoContextTakeover: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
				wsx.CompressionContextTakeover:   "permessage-deflate",
			},
			big: map[wsx.CompressionMode]bool{wsx.CompressionContextTakeover: true},
		},
		{
			name:  "node-ws-small-windows",
			start: nodeServer(`{"perMessageDeflate": {"threshold": 0, "serverMaxWindowBits": 9, "clientMaxWindowBits": 10}}`),
			response: map[wsx.CompressionMode]string{
				wsx.CompressionNoContextTakeover: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10",
				wsx.CompressionContextTakeover:   "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
			},
		},
		{
			name: "python-websockets",
			start: func(t *testing.T) *peer {
				needPython(t)
				return startPeer(t, "python websockets server", pythonDir, systemPython, "peer.py", "server")
			},
			// websockets limits both windows to 4 KiB unasked.
			response: map[wsx.CompressionMode]string{
				wsx.CompressionNoContextTakeover: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
				wsx.CompressionContextTakeover:   "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
			},
			big: map[wsx.CompressionMode]bool{wsx.CompressionNoContextTakeover: true},
		},
	}
	modes := []struct {
		mode      wsx.CompressionMode
		threshold int    // DialOptions.CompressionThreshold
		compress  int    // which messages must go out compressed: see wantWire
		offer     string // the offer Dial must send
	}{
		{wsx.CompressionNoContextTakeover, -1, compressAll,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"},
		{wsx.CompressionContextTakeover, 0, wsx.DefaultCompressionThreshold,
			"permessage-deflate; client_max_window_bits"},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			p := s.start(t)
			r := p.next(t, "listen", 30*time.Second)
			tp := startTap(t, fmt.Sprintf("127.0.0.1:%d", r.Port))
			for _, m := range modes {
				t.Run(m.mode.String(), func(t *testing.T) {
					testDialCompression(t, p, tp, s, m.mode, m.threshold, m.compress, m.offer)
				})
			}
		})
	}
}

func testDialCompression(t *testing.T, p *peer, tp *tap, s compressionServer, mode wsx.CompressionMode, threshold, compress int, offer string) {
	want := s.response[mode]
	p.send(t, request{Op: "accept"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, resp, err := wsx.Dial(ctx, "ws://"+tp.addr()+"/interop", &wsx.DialOptions{CompressionMode: mode, CompressionThreshold: threshold})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial returned status %d, want 101", resp.StatusCode)
	}
	r := p.next(t, "accept", 20*time.Second)
	if r.Offer != offer {
		t.Fatalf("%s received the offer %q, want %q", p.name, r.Offer, offer)
	}
	wantDeflate(t, p.name+" sent", r.Extensions, want)
	ps := wantDeflate(t, "Dial received", resp.Header.Get("Sec-WebSocket-Extensions"), want)

	msgs := compressionMessages(s.big[mode])
	for _, m := range msgs {
		typ := wsx.MessageBinary
		if m.typ == "text" {
			typ = wsx.MessageText
		}
		if err := c.Write(ctx, typ, m.data()); err != nil {
			t.Fatalf("Write %s: %v", m.name, err)
		}
		p.wantMessage(t, m.typ, m.data())
		p.call(t, request{Op: "send", Type: m.typ, Parts: m.parts, Compress: true})
		wantRead(t, c, typ, m.data())
	}
	// A message streamed through Writer goes out as several frames of
	// one compressed message.
	streamed := testMsg{name: "streamed-compressible-text", typ: "text"}
	w, err := c.Writer(ctx, wsx.MessageText)
	if err != nil {
		t.Fatalf("Writer: %v", err)
	}
	for i := range 10 {
		chunk := compressibleText(15000, uint64(100+i))
		streamed.parts = append(streamed.parts, chunk)
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("Write to Writer: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close Writer: %v", err)
	}
	p.wantMessage(t, "text", streamed.data())
	closeConn(t, p, c, wsx.StatusNormalClosure, "")

	snap := tp.last(t)
	if got := headerValue(snap.request, "Sec-WebSocket-Extensions"); got != offer {
		t.Fatalf("Dial offered %q on the wire, want %q", got, offer)
	}
	srvInf, cliInf := ps.inflaters()
	if want := mode == wsx.CompressionContextTakeover && !ps["client_no_context_takeover"]; cliInf.takeover != want {
		t.Fatalf("test error: client takeover %t, want %t", cliInf.takeover, want)
	}
	sent, pending := readWire(t, "wsx.Dial", snap.toServer, cliInf)
	if pending != 0 {
		t.Fatalf("wsx.Dial left a message unfinished (%d frames)", pending)
	}
	wantWire(t, "wsx.Dial", sent, append(msgs, streamed), compress)
	if m := sent[len(sent)-1]; m.frames < 2 {
		t.Fatalf("the streamed message went out as %d frame, want several", m.frames)
	}
	if cliInf.takeover && !reachesBack(sent) {
		t.Fatalf("wsx.Dial with context takeover never referred to an earlier message")
	}
	if bits := cliInf.windowBits; bits == 15 && longestDistance(sent) <= 1<<12 {
		// The compressible binary messages repeat 5000-byte blocks:
		// a full window finds them, so the smaller windows agreed
		// with other servers are a real constraint there.
		t.Fatalf("wsx.Dial's longest distance with a 32 KiB window is %d, want over 4096", longestDistance(sent))
	}
	echoed, pending := readWire(t, p.name, snap.toClient, srvInf)
	if pending != 0 {
		t.Fatalf("%s left a message unfinished (%d frames)", p.name, pending)
	}
	wantWire(t, p.name, echoed, msgs, compressAll)
	t.Logf("wsx.Dial: %s", wireSummary(sent))
	t.Logf("%s: %s", p.name, wireSummary(echoed))
}
