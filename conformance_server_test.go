package wsx_test

// Protocol conformance tests. A scripted raw peer (internal/test/rawpeer)
// writes frames, legal or not, and judges what comes back with its own
// codec; on the other end runs wsx, as the server (Accept under httptest)
// or as the client (Dial against the raw peer's listener). The area tests
// below run every case against both; the client end of the harness is in
// conformance_client_test.go.
//
// Each case checks what the peer sees on the wire (frame bytes, close
// code, the TCP connection closing) and what the wsx application saw
// (the messages it read and the error its read loop ended with).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// side is one way to run the wsx end of a conformance test.
type side struct {
	name   string
	client bool     // wsx dials; the raw peer is the server
	stream bool     // the echo streams with Reader and Writer instead of AppendMessage and Write
	chunk  chunking // how the wsx end's reads from the network are cut up
	event  bool     // an EventServer echoes from OnMessage
}

// chunking makes the wsx end's reads return less than asked, so frame
// headers, masks and UTF-8 sequences arrive split at every offset.
type chunking int

const (
	whole    chunking = iota
	oneByte           // every read returns at most one byte (iotest.OneByteReader)
	halfRead          // every read returns at most half of what was asked (iotest.HalfReader)
)

var (
	serverSides  = withEventSide([]side{{name: "server/write"}, {name: "server/stream", stream: true}})
	chunkedSides = []side{
		{name: "server/onebyte", chunk: oneByte},
		{name: "server/half", stream: true, chunk: halfRead},
		{name: "client/onebyte", client: true, chunk: oneByte},
		{name: "client/half", client: true, stream: true, chunk: halfRead},
	}
)

func bothSides() []side { return slices.Concat(serverSides, clientSides) }

// oneEach is one side of each kind, for cases where the echo does not
// matter.
func oneEach() []side { return []side{serverSides[0], clientSides[0]} }

// appFunc is the wsx application: it runs on a connection until it
// returns, reporting each message it read on got. Its error is what the
// test judges.
type appFunc func(ctx context.Context, c *wsx.Conn, got chan<- message) error

type message struct {
	typ  wsx.MessageType
	data []byte
}

type config struct {
	readLimit int64   // for Accept and Dial options; 0 means the default
	app       appFunc // nil means an echo in the side's style
}

// harness opens connections between the raw peer and a wsx end. The
// peer sends first in the same write as its handshake message.
type harness interface {
	open(t *testing.T, first ...[]byte) *endpoint
	// chunkedReads counts the reads of chunked connections, to show
	// that the chunking happened.
	chunkedReads() int64
}

func (s side) start(t *testing.T, cfg config) harness {
	t.Helper()
	if s.event {
		if cfg.app != nil {
			t.Fatal("the event server side runs the echo only")
		}
		return startEventHarness(t, cfg)
	}
	if cfg.app == nil {
		cfg.app = echoWrite
		if s.stream {
			cfg.app = echoStream
		}
	}
	if s.client {
		return startClientHarness(t, s, cfg)
	}
	return startServerHarness(t, s, cfg)
}

// appTimeout bounds a wsx application; appWait is how long a test waits
// for one to return.
const (
	appTimeout = 30 * time.Second
	appWait    = 15 * time.Second
)

func runApp(app appFunc, c *wsx.Conn, got chan<- message) error {
	ctx, cancel := context.WithTimeout(context.Background(), appTimeout)
	defer cancel()
	err := app(ctx, c, got)
	c.CloseNow()
	return err
}

// echoWrite echoes each message whole, the way most applications read.
func echoWrite(ctx context.Context, c *wsx.Conn, got chan<- message) error {
	var buf []byte
	for {
		typ, b, err := c.AppendMessage(ctx, buf[:0])
		if err != nil {
			return err
		}
		buf = b
		got <- message{typ, bytes.Clone(b)}
		if err := c.Write(ctx, typ, b); err != nil {
			return err
		}
	}
}

// echoStream echoes each message as it streams in, with a fixed buffer.
func echoStream(ctx context.Context, c *wsx.Conn, got chan<- message) error {
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return err
		}
		var rec bytes.Buffer
		_, err = io.Copy(w, io.TeeReader(r, &rec))
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		got <- message{typ, rec.Bytes()}
	}
}

// endpoint is one connection: the raw peer, embedded so a test reads as a
// transcript, and what the wsx application reports.
type endpoint struct {
	*rawpeer.Conn
	t     *testing.T
	got   chan message
	done  chan error
	err   error
	ended bool
}

func newEndpoint(t *testing.T) *endpoint {
	return &endpoint{t: t, got: make(chan message, 64), done: make(chan error, 1)}
}

// appErr waits for the wsx application to return and returns its error.
func (e *endpoint) appErr() error {
	e.t.Helper()
	if !e.ended {
		select {
		case e.err = <-e.done:
			e.ended = true
		case <-time.After(appWait):
			e.t.Fatalf("the wsx application is still running after %v", appWait)
		}
	}
	return e.err
}

// wantAppErr checks that the wsx application's read ended with an error
// wrapping target.
func (e *endpoint) wantAppErr(target error) {
	e.t.Helper()
	if err := e.appErr(); !errors.Is(err, target) {
		e.t.Fatalf("wsx read error = %v, want %v", err, target)
	}
}

// wantAppStatus checks that the wsx application's read ended with the
// peer's close frame carrying code.
func (e *endpoint) wantAppStatus(code wsx.StatusCode) wsx.CloseError {
	e.t.Helper()
	err := e.appErr()
	var ce wsx.CloseError
	if !errors.As(err, &ce) || ce.Code != code || wsx.CloseStatus(err) != code {
		e.t.Fatalf("wsx read error = %v, want a CloseError with status %v", err, code)
	}
	return ce
}

// wantGot checks the next message the wsx application read.
func (e *endpoint) wantGot(typ wsx.MessageType, data []byte) {
	e.t.Helper()
	select {
	case m := <-e.got:
		if m.typ != typ || !bytes.Equal(m.data, data) {
			e.t.Fatalf("wsx read %v message %q, want %v %q", m.typ, short(m.data), typ, short(data))
		}
	case <-time.After(appWait):
		e.t.Fatalf("wsx read no message in %v, want %v %q", appWait, typ, short(data))
	}
}

// wantNothingMoreGot checks, once the application has returned, that it
// read no message the test did not expect.
func (e *endpoint) wantNothingMoreGot() {
	e.t.Helper()
	e.appErr()
	select {
	case m := <-e.got:
		e.t.Fatalf("wsx read an unexpected %v message %q", m.typ, short(m.data))
	default:
	}
}

// wantEcho reads the echo of a single message of type op and checks it
// and the application's copy.
func (e *endpoint) wantEcho(op byte, payload []byte) rawpeer.Message {
	e.t.Helper()
	m := e.WantMessage()
	if m.Opcode != op || !bytes.Equal(m.Payload, payload) {
		e.t.Fatalf("echo: opcode %#x payload %q (%d bytes), want %#x %q (%d bytes)",
			m.Opcode, short(m.Payload), len(m.Payload), op, short(payload), len(payload))
	}
	if len(m.Controls) > 0 {
		e.t.Fatalf("echo: unexpected control frames %v", m.Controls)
	}
	e.wantGot(wsx.MessageType(op), payload)
	return m
}

// closeHandshake ends a healthy connection the way the peer would: close
// 1000, the echo of it, TCP closed, and the application sees the status.
func (e *endpoint) closeHandshake() {
	e.t.Helper()
	e.WriteFrame(rawpeer.Close(1000, ""))
	e.WantClose(1000)
	e.Finish()
	e.wantAppStatus(wsx.StatusNormalClosure)
	e.wantNothingMoreGot()
}

// failed checks that wsx failed the connection with code, that nothing
// followed its close frame, and that the application's read returned an
// error wrapping kind.
func (e *endpoint) failed(code int, kind error) {
	e.t.Helper()
	e.WantClose(code)
	e.Finish()
	e.wantAppErr(kind)
	if wsx.CloseStatus(e.appErr()) != -1 {
		e.t.Fatalf("CloseStatus(%v) = %v, want -1: the peer sent no close frame", e.appErr(), wsx.CloseStatus(e.appErr()))
	}
	e.wantNothingMoreGot()
}

// end closes the peer's connection and waits for the application. It runs
// at cleanup, and earlier where a test opens many connections.
func (e *endpoint) end() {
	if e.Conn != nil {
		e.Conn.Close()
	}
	if !e.ended {
		select {
		case e.err = <-e.done:
			e.ended = true
		case <-time.After(appWait):
			e.t.Errorf("the wsx application is still running after %v", appWait)
		}
	}
}

func short(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// serverHarness runs wsx.Accept under httptest. Each raw client names its
// endpoint in the request URI, so the handler reports to the right test.
type serverHarness struct {
	cfg   config
	addr  string
	reads atomic.Int64

	mu   sync.Mutex
	next int
	eps  map[string]*endpoint
}

func startServerHarness(t *testing.T, s side, cfg config) *serverHarness {
	h := &serverHarness{cfg: cfg, eps: map[string]*endpoint{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	if s.chunk != whole {
		srv.Listener = chunkListener{srv.Listener, s.chunk, &h.reads}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	h.addr = srv.Listener.Addr().String()
	return h
}

func (h *serverHarness) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	ep := h.eps[r.URL.Query().Get("id")]
	delete(h.eps, r.URL.Query().Get("id"))
	h.mu.Unlock()
	if ep == nil {
		http.Error(w, "unknown endpoint", http.StatusNotFound)
		return
	}
	c, err := wsx.Accept(w, r, &wsx.AcceptOptions{ReadLimit: h.cfg.readLimit})
	if err != nil {
		ep.done <- err
		return
	}
	ep.done <- runApp(h.cfg.app, c, ep.got)
}

func (h *serverHarness) chunkedReads() int64 { return h.reads.Load() }

func (h *serverHarness) open(t *testing.T, first ...[]byte) *endpoint {
	t.Helper()
	ep := newEndpoint(t)
	h.mu.Lock()
	h.next++
	id := strconv.Itoa(h.next)
	h.eps[id] = ep
	h.mu.Unlock()
	ep.Conn = rawpeer.Dial(t, h.addr, "/?id="+id, first...)
	t.Cleanup(ep.end)
	return ep
}

// chunkConn cuts up reads (see chunking).
type chunkConn struct {
	net.Conn
	mode  chunking
	reads *atomic.Int64
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(p) > 1 {
		switch c.mode {
		case oneByte:
			p = p[:1]
		case halfRead:
			p = p[:(len(p)+1)/2]
		}
	}
	c.reads.Add(1)
	return c.Conn.Read(p)
}

type chunkListener struct {
	net.Listener
	mode  chunking
	reads *atomic.Int64
}

func (l chunkListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &chunkConn{nc, l.mode, l.reads}, nil
}

// textOf returns valid UTF-8 of exactly n bytes, with characters of every
// encoded length.
func textOf(n int) []byte {
	chars := []rune{'a', 'é', '€', '𝄞', 'z', 'ñ', '日', '😀'}
	b := make([]byte, 0, n)
	for i := 0; ; i++ {
		r := chars[i%len(chars)]
		if len(b)+len(string(r)) > n {
			break
		}
		b = append(b, string(r)...)
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// binaryOf returns n pseudo-random bytes, the same for the same seed.
func binaryOf(n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(n))
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func payloadOf(op byte, n int) []byte {
	if op == rawpeer.OpText {
		return textOf(n)
	}
	return binaryOf(n, 1)
}

var frameSizes = []int{0, 1, 125, 126, 127, 65535, 65536}

// TestConformanceFraming echoes text and binary messages at every length
// boundary of the header (RFC 6455 §5.2) and checks each frame wsx sends
// against an independent encoder: minimal length, masking by role, random
// client keys.
func TestConformanceFraming(t *testing.T) {
	for _, s := range slices.Concat(bothSides(), chunkedSides) {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			ep := h.open(t)
			var keys [][4]byte
			total := 0
			for _, n := range frameSizes {
				for _, op := range []byte{rawpeer.OpText, rawpeer.OpBinary} {
					if s.chunk != whole && n > 0xFFFF && op == rawpeer.OpText {
						// Bytes read one at a time are slow;
						// one large message per length form
						// is enough.
						continue
					}
					p := payloadOf(op, n)
					total += n
					ep.WriteFrame(rawpeer.Frame{Fin: true, Opcode: op, Payload: p})
					m := ep.wantEcho(op, p)
					for _, f := range m.Frames {
						keys = append(keys, f.Key)
					}
					if s.stream {
						continue
					}
					// Write sends one frame: exactly what an
					// independent encoder makes of it.
					if len(m.Frames) != 1 {
						t.Fatalf("%d-byte message: Write sent %d frames, want 1", n, len(m.Frames))
					}
					f := m.Frames[0]
					want := rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: op, Masked: s.client, Key: f.Key, Payload: p})
					if !bytes.Equal(f.Raw, want) {
						t.Fatalf("%d-byte message: frame % x..., want % x...", n, short(f.Raw), short(want))
					}
				}
			}
			ep.closeHandshake()
			if s.client {
				checkKeys(t, keys)
			}
			if s.chunk == oneByte && h.chunkedReads() < int64(total) {
				t.Fatalf("%d reads for %d bytes of payload: the reads were not cut to one byte", h.chunkedReads(), total)
			}
		})
	}
}

// checkKeys checks that client masking keys are unpredictable: none zero,
// none repeated (RFC 6455 §5.3 asks for a fresh key per frame from a
// strong source).
func checkKeys(t *testing.T, keys [][4]byte) {
	t.Helper()
	seen := map[[4]byte]bool{}
	for _, k := range keys {
		if k == [4]byte{} {
			t.Fatalf("client frame masked with the zero key")
		}
		if seen[k] {
			t.Fatalf("masking key % x used twice in %d frames", k, len(keys))
		}
		seen[k] = true
	}
	if len(keys) < 8 {
		t.Fatalf("only %d client frames seen", len(keys))
	}
}

// TestConformanceLargeMessage echoes one 16 MiB message per side, with the
// read limit raised above it.
func TestConformanceLargeMessage(t *testing.T) {
	for _, s := range oneEach() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			ep := s.start(t, config{readLimit: 64 << 20}).open(t)
			ep.Timeout = 20 * time.Second
			p := binaryOf(16<<20, 2)
			ep.WriteFrame(rawpeer.Binary(p))
			m := ep.wantEcho(rawpeer.OpBinary, p)
			if len(m.Frames) != 1 {
				t.Fatalf("16 MiB echo in %d frames, want 1", len(m.Frames))
			}
			f := m.Frames[0]
			want := rawpeer.AppendHeader(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, Masked: s.client, Key: f.Key, Length: 16 << 20})
			if !bytes.Equal(f.Raw[:len(want)], want) {
				t.Fatalf("16 MiB echo header % x, want % x", f.Raw[:len(want)], want)
			}
			ep.closeHandshake()
		})
	}
}

// rfcKey is the masking key of the examples in RFC 6455 §5.7.
var rfcKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func maskedWithRFCKey(header string, payload []byte) []byte {
	b := append([]byte(header), rfcKey[:]...)
	start := len(b)
	b = append(b, payload...)
	rawpeer.Mask(rfcKey, b[start:])
	return b
}

// unmaskedWire returns the wire bytes of f as an unmasked frame: a server
// frame as it came, a client frame with the mask bit and key taken out
// and the payload unmasked.
func unmaskedWire(f rawpeer.Frame) []byte {
	if !f.Masked {
		return f.Raw
	}
	hl := len(f.Raw) - len(f.Payload)
	b := append([]byte(nil), f.Raw[:hl-4]...)
	b[1] &^= 0x80
	return append(b, f.Payload...)
}

// TestConformanceGolden sends the worked examples of RFC 6455 §5.7 and
// checks what wsx reads and answers: a server's answers must be the
// RFC's unmasked bytes exactly; a client's, once unmasked.
func TestConformanceGolden(t *testing.T) {
	p256 := binaryOf(256, 3)
	p64k := binaryOf(65536, 4)
	hello := []byte("Hello")
	tests := []struct {
		name   string
		client []byte // what a client sends: masked
		server []byte // what a server sends: unmasked
		typ    wsx.MessageType
		data   []byte // the message wsx reads, if any
		reply  []byte // the unmasked form of the frame wsx answers with
		// streamOneFrame: the streaming echo, which buffers small
		// messages, answers with the same single frame.
		streamOneFrame bool
	}{
		{
			name:           "single-frame text",
			client:         []byte("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
			server:         []byte("\x81\x05\x48\x65\x6c\x6c\x6f"),
			typ:            wsx.MessageText,
			data:           hello,
			reply:          []byte("\x81\x05\x48\x65\x6c\x6c\x6f"),
			streamOneFrame: true,
		},
		{
			name:           "fragmented text",
			client:         append(maskedWithRFCKey("\x01\x83", []byte("Hel")), maskedWithRFCKey("\x80\x82", []byte("lo"))...),
			server:         []byte("\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f"),
			typ:            wsx.MessageText,
			data:           hello,
			reply:          []byte("\x81\x05\x48\x65\x6c\x6c\x6f"),
			streamOneFrame: true,
		},
		{
			name:   "ping",
			client: []byte("\x89\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
			server: []byte("\x89\x05\x48\x65\x6c\x6c\x6f"),
			reply:  []byte("\x8a\x05\x48\x65\x6c\x6c\x6f"),
		},
		{
			name:           "256-byte binary",
			client:         maskedWithRFCKey("\x82\xFE\x01\x00", p256),
			server:         append([]byte("\x82\x7E\x01\x00"), p256...),
			typ:            wsx.MessageBinary,
			data:           p256,
			reply:          append([]byte("\x82\x7E\x01\x00"), p256...),
			streamOneFrame: true,
		},
		{
			name:   "64 KiB binary",
			client: maskedWithRFCKey("\x82\xFF\x00\x00\x00\x00\x00\x01\x00\x00", p64k),
			server: append([]byte("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"), p64k...),
			typ:    wsx.MessageBinary,
			data:   p64k,
			reply:  append([]byte("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"), p64k...),
		},
	}
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ep := h.open(t)
					if s.client {
						ep.WriteRaw(tt.server)
					} else {
						ep.WriteRaw(tt.client)
					}
					if tt.data == nil {
						f := ep.WantFrame()
						if got := unmaskedWire(f); !bytes.Equal(got, tt.reply) {
							t.Fatalf("answer % x, want % x", short(got), short(tt.reply))
						}
					} else {
						m := ep.WantMessage()
						var got []byte
						for _, f := range m.Frames {
							got = append(got, unmaskedWire(f)...)
						}
						switch {
						case !s.stream || tt.streamOneFrame:
							if !bytes.Equal(got, tt.reply) {
								t.Fatalf("answer % x..., want % x...", short(got), short(tt.reply))
							}
						case m.Opcode != tt.reply[0]&0x0F || !bytes.Equal(m.Payload, tt.data):
							t.Fatalf("answer opcode %#x, %d bytes; want the message back", m.Opcode, len(m.Payload))
						}
						ep.wantGot(tt.typ, tt.data)
					}
					ep.closeHandshake()
				})
			}
		})
	}
}

// TestConformancePing covers RFC 6455 §5.5.2 and §5.5.3: pings are
// answered with their payload, also between the fragments of a message,
// and pongs nobody asked for are ignored.
func TestConformancePing(t *testing.T) {
	all := make([]byte, 125)
	for i := range all {
		all[i] = byte(i * 2)
	}
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			ep := s.start(t, config{}).open(t)
			for _, p := range [][]byte{[]byte("Hello"), nil, all} {
				ep.WriteFrame(rawpeer.Ping(p))
				f := ep.WantFrame()
				if f.Opcode != rawpeer.OpPong || !bytes.Equal(f.Payload, p) {
					t.Fatalf("ping %q (%d bytes) answered with %v", short(p), len(p), f)
				}
			}

			ep.WriteFrame(rawpeer.Pong([]byte("unsolicited")))
			ep.WriteFrame(rawpeer.Pong(nil))
			ep.WriteFrame(rawpeer.Text("after the pongs"))
			ep.wantEcho(rawpeer.OpText, []byte("after the pongs"))

			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpText, false, []byte("Hel")))
			ep.WriteFrame(rawpeer.Ping([]byte("1")))
			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, false, []byte("l")))
			ep.WriteFrame(rawpeer.Pong([]byte("ignored")))
			ep.WriteFrame(rawpeer.Ping([]byte("2")))
			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, true, []byte("o")))
			m := ep.WantMessage()
			if m.Opcode != rawpeer.OpText || string(m.Payload) != "Hello" {
				t.Fatalf("fragmented message echoed as %#x %q", m.Opcode, m.Payload)
			}
			if len(m.Controls) != 2 || m.Controls[0].Opcode != rawpeer.OpPong || string(m.Controls[0].Payload) != "1" ||
				m.Controls[1].Opcode != rawpeer.OpPong || string(m.Controls[1].Payload) != "2" {
				t.Fatalf("pings between fragments answered with %v, want pongs 1 and 2", m.Controls)
			}
			ep.wantGot(wsx.MessageText, []byte("Hello"))
			ep.closeHandshake()
		})
	}
}

// TestConformancePingFromWsx checks Conn.Ping on the wire: a ping the peer
// answers with a pong of the same payload, not with any pong.
func TestConformancePingFromWsx(t *testing.T) {
	app := func(ctx context.Context, c *wsx.Conn, got chan<- message) error {
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.Read(ctx)
			errc <- err
		}()
		perr := c.Ping(ctx)
		if perr == nil {
			got <- message{wsx.MessageText, []byte("pong seen")}
		}
		return errors.Join(perr, <-errc)
	}
	for _, s := range oneEach() {
		t.Run(s.name, func(t *testing.T) {
			ep := s.start(t, config{app: app}).open(t)
			f := ep.WantFrame()
			if f.Opcode != rawpeer.OpPing {
				t.Fatalf("want a ping, got %v", f)
			}
			ep.WriteFrame(rawpeer.Pong([]byte("not the payload")))
			select {
			case m := <-ep.got:
				t.Fatalf("Ping returned on a pong with another payload (%q)", m.data)
			case <-time.After(50 * time.Millisecond):
			}
			ep.WriteFrame(rawpeer.Pong(f.Payload))
			ep.wantGot(wsx.MessageText, []byte("pong seen"))
			ep.WriteFrame(rawpeer.Close(1000, ""))
			ep.WantClose(1000)
			ep.Finish()
			ep.wantAppStatus(wsx.StatusNormalClosure)
		})
	}
}

// violation is a way for the peer to break RFC 6455 framing.
type violation struct {
	name string
	only string // "server" or "client" when it applies to one side only
	send func(ep *endpoint)
}

func frames(fs ...rawpeer.Frame) func(ep *endpoint) {
	return func(ep *endpoint) {
		for _, f := range fs {
			ep.WriteFrame(f)
		}
	}
}

func protocolViolations() []violation {
	x := []byte("x")
	vs := []violation{
		{name: "rsv1", send: frames(rawpeer.Frame{Fin: true, Rsv: rawpeer.Rsv1, Opcode: rawpeer.OpText, Payload: x})},
		{name: "rsv2", send: frames(rawpeer.Frame{Fin: true, Rsv: rawpeer.Rsv2, Opcode: rawpeer.OpText, Payload: x})},
		{name: "rsv3", send: frames(rawpeer.Frame{Fin: true, Rsv: rawpeer.Rsv3, Opcode: rawpeer.OpBinary, Payload: x})},
		{name: "rsv1 on a continuation", send: frames(
			rawpeer.Fragment(rawpeer.OpText, false, x),
			rawpeer.Frame{Fin: true, Rsv: rawpeer.Rsv1, Opcode: rawpeer.OpContinuation, Payload: x})},
		{name: "rsv2 on a ping", send: frames(rawpeer.Frame{Fin: true, Rsv: rawpeer.Rsv2, Opcode: rawpeer.OpPing, Payload: x})},
		{name: "rsv3 on a close", send: frames(rawpeer.Frame{Fin: true, Rsv: rawpeer.Rsv3, Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(1000, "")})},
		{name: "ping over 125 bytes", send: frames(rawpeer.Ping(make([]byte, 126)))},
		{name: "pong over 125 bytes", send: frames(rawpeer.Pong(make([]byte, 126)))},
		{name: "close over 125 bytes", send: frames(rawpeer.Close(1000, strings.Repeat("r", 124)))},
		{name: "ping of 64 KiB", send: frames(rawpeer.Ping(make([]byte, 65536)))},
		{name: "fragmented ping", send: frames(rawpeer.Frame{Opcode: rawpeer.OpPing, Payload: x})},
		{name: "fragmented pong", send: frames(rawpeer.Frame{Opcode: rawpeer.OpPong, Payload: x})},
		{name: "fragmented close", send: frames(rawpeer.Frame{Opcode: rawpeer.OpClose, Payload: rawpeer.ClosePayload(1000, "")})},
		{name: "fragmented ping inside a message", send: frames(
			rawpeer.Fragment(rawpeer.OpText, false, x),
			rawpeer.Frame{Opcode: rawpeer.OpPing, Payload: x})},
		{name: "continuation with no message", send: frames(rawpeer.Fragment(rawpeer.OpContinuation, true, x))},
		{name: "non-final continuation with no message", send: frames(rawpeer.Fragment(rawpeer.OpContinuation, false, x))},
		{name: "continuation after a whole message", send: func(ep *endpoint) {
			ep.WriteFrame(rawpeer.Text("done"))
			ep.wantEcho(rawpeer.OpText, []byte("done"))
			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, true, x))
		}},
		{name: "text inside fragmented text", send: frames(
			rawpeer.Fragment(rawpeer.OpText, false, x),
			rawpeer.Text("y"))},
		{name: "binary inside fragmented text", send: frames(
			rawpeer.Fragment(rawpeer.OpText, false, x),
			rawpeer.Fragment(rawpeer.OpBinary, false, x))},
		{name: "text inside fragmented binary after a continuation", send: frames(
			rawpeer.Fragment(rawpeer.OpBinary, false, x),
			rawpeer.Fragment(rawpeer.OpContinuation, false, x),
			rawpeer.Fragment(rawpeer.OpText, true, x))},
		{name: "64-bit length with the top bit set", send: func(ep *endpoint) {
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, Length: 1 << 63, LenEnc: rawpeer.Len64})
		}},
		{name: "64-bit length of all ones", send: func(ep *endpoint) {
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, Length: ^uint64(0), LenEnc: rawpeer.Len64})
		}},
		{name: "non-minimal 16-bit length 0", send: frames(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, LenEnc: rawpeer.Len16})},
		{name: "non-minimal 16-bit length 125", send: frames(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, LenEnc: rawpeer.Len16, Payload: make([]byte, 125)})},
		{name: "non-minimal 64-bit length 5", send: frames(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, LenEnc: rawpeer.Len64, Payload: []byte("Hello")})},
		{name: "non-minimal 64-bit length 65535", send: frames(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, LenEnc: rawpeer.Len64, Payload: make([]byte, 65535)})},
		{name: "non-minimal length on a ping", send: frames(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpPing, LenEnc: rawpeer.Len16, Payload: x})},
		{name: "non-minimal length on a continuation", send: frames(
			rawpeer.Fragment(rawpeer.OpText, false, x),
			rawpeer.Frame{Fin: true, Opcode: rawpeer.OpContinuation, LenEnc: rawpeer.Len64, Payload: x})},

		{name: "unmasked text", only: "server", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Text("x")))
		}},
		{name: "unmasked ping", only: "server", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Ping(x)))
		}},
		{name: "unmasked close", only: "server", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Close(1000, "")))
		}},
		{name: "unmasked continuation", only: "server", send: func(ep *endpoint) {
			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpText, false, x))
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Fragment(rawpeer.OpContinuation, true, x)))
		}},
		{name: "masked text", only: "client", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, Masked: true, Key: rfcKey, Payload: []byte("Hello")}))
		}},
		{name: "masked with the zero key", only: "client", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, Masked: true, Payload: x}))
		}},
		{name: "masked ping", only: "client", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpPing, Masked: true, Key: rfcKey, Payload: x}))
		}},
		{name: "masked close", only: "client", send: func(ep *endpoint) {
			ep.WriteRaw(rawpeer.AppendFrame(nil, rawpeer.Frame{Fin: true, Opcode: rawpeer.OpClose, Masked: true, Key: rfcKey, Payload: rawpeer.ClosePayload(1000, "")}))
		}},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		vs = append(vs, violation{
			name: fmt.Sprintf("reserved opcode %#x", op),
			send: frames(rawpeer.Frame{Fin: true, Opcode: op, Payload: x}),
		})
	}
	vs = append(vs, violation{
		name: "reserved opcode inside a message",
		send: frames(rawpeer.Fragment(rawpeer.OpText, false, x), rawpeer.Frame{Fin: true, Opcode: 0x3, Payload: x}),
	})
	return vs
}

// TestConformanceProtocolErrors checks that every framing violation fails
// the connection with close 1002 (RFC 6455 §7.1.7, §7.4.1) and that the
// application's read reports ErrProtocol.
func TestConformanceProtocolErrors(t *testing.T) {
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			for _, v := range protocolViolations() {
				if v.only == "server" && s.client || v.only == "client" && !s.client {
					continue
				}
				t.Run(v.name, func(t *testing.T) {
					ep := h.open(t)
					v.send(ep)
					ep.failed(1002, wsx.ErrProtocol)
				})
			}
		})
	}
}

var validTexts = []string{
	"Hello",
	"κόσμε",
	"Hello-µ@ßöäüàá-UTF-8!!",
	"\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\ufffd", "\uffff", "\ufeff",
	"\U00010000", "\U0010ffff",
	"𝄞 music, 日本語, 😀",
}

var invalidTexts = []struct{ name, s string }{
	{"overlong 2-byte NUL", "\xc0\x80"},
	{"overlong 2-byte", "a\xc1\xbf"},
	{"overlong 3-byte", "\xe0\x80\xaf"},
	{"overlong 4-byte", "\xf0\x80\x80\xaf"},
	{"high surrogate", "\xed\xa0\x80"},
	{"low surrogate", "\xed\xbf\xbf"},
	{"surrogate pair", "\xed\xa0\xbd\xed\xb2\xa9"},
	{"above U+10FFFF", "\xf4\x90\x80\x80"},
	{"lead byte f5", "\xf5\x80\x80\x80"},
	{"byte ff", "ab\xff"},
	{"byte fe", "\xfe"},
	{"truncated 2-byte at end", "κόσμ\xce"},
	{"truncated 3-byte at end", "abc\xe2\x82"},
	{"truncated 4-byte at end", "\xf0\x9f\x98"},
	{"lone continuation", "\x80"},
	{"continuation after ASCII", "a\xbfb"},
	{"missing continuation", "\xe2\x82a"},
	{"bad byte in the middle", "κό\xffσμε"},
}

// TestConformanceUTF8 checks RFC 6455 §8.1: text messages are validated
// across frames and reads, and invalid UTF-8 fails the connection with
// 1007 as soon as the first bad byte arrives.
func TestConformanceUTF8(t *testing.T) {
	for _, s := range slices.Concat(bothSides(), chunkedSides) {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			t.Run("valid", func(t *testing.T) {
				ep := h.open(t)
				for _, text := range validTexts {
					ep.WriteFrame(rawpeer.Text(text))
					ep.wantEcho(rawpeer.OpText, []byte(text))
				}
				ep.closeHandshake()
			})
			t.Run("valid split at every byte", func(t *testing.T) {
				ep := h.open(t)
				text := []byte("aκόσμε 𝄞€日ñ😀z")
				for i := 1; i < len(text); i++ {
					ep.WriteRaw(slices.Concat(
						ep.Encode(rawpeer.Fragment(rawpeer.OpText, false, text[:i])),
						ep.Encode(rawpeer.Fragment(rawpeer.OpContinuation, true, text[i:]))))
					ep.wantEcho(rawpeer.OpText, text)
				}
				// One byte per frame, with empty frames around.
				var b []byte
				b = append(b, ep.Encode(rawpeer.Fragment(rawpeer.OpText, false, nil))...)
				for i := range text {
					b = append(b, ep.Encode(rawpeer.Fragment(rawpeer.OpContinuation, false, text[i:i+1]))...)
				}
				b = append(b, ep.Encode(rawpeer.Fragment(rawpeer.OpContinuation, true, nil))...)
				ep.WriteRaw(b)
				ep.wantEcho(rawpeer.OpText, text)
				ep.closeHandshake()
			})
			t.Run("valid prefix waits for the rest", func(t *testing.T) {
				ep := h.open(t)
				ep.WriteFrame(rawpeer.Fragment(rawpeer.OpText, false, []byte("κ\xce")))
				ep.WantSilence(100 * time.Millisecond)
				ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, true, []byte("\xbc")))
				ep.wantEcho(rawpeer.OpText, []byte("κμ"))
				ep.closeHandshake()
			})
			for _, tt := range invalidTexts {
				t.Run("invalid/"+tt.name, func(t *testing.T) {
					ep := h.open(t)
					ep.WriteFrame(rawpeer.Text(tt.s))
					ep.failed(1007, wsx.ErrInvalidUTF8)
				})
			}
			// A read that ends inside a sequence leaves it pending;
			// the bytes after the one that completes it must still
			// be checked.
			for _, tt := range []struct{ name, first, rest string }{
				{"2-byte", "a\xce", "\xba\xff"},
				{"3-byte", "\xe2\x82", "\xacb\xed\xa0\x80"},
				{"4-byte", "\xf0\x9f", "\x98\x80\xc0\xaf"},
			} {
				t.Run("invalid after a completed pending sequence/"+tt.name, func(t *testing.T) {
					ep := h.open(t)
					ep.WriteFrame(rawpeer.Fragment(rawpeer.OpText, false, []byte(tt.first)))
					ep.WantSilence(20 * time.Millisecond)
					ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, true, []byte(tt.rest)))
					ep.failed(1007, wsx.ErrInvalidUTF8)
				})
			}
			if s.chunk != whole {
				return // chunked reads split these sequences already
			}
			for _, tt := range invalidTexts {
				for i := 1; i < len(tt.s); i++ {
					t.Run(fmt.Sprintf("invalid split/%s/%d", tt.name, i), func(t *testing.T) {
						ep := h.open(t)
						ep.WriteRaw(slices.Concat(
							ep.Encode(rawpeer.Fragment(rawpeer.OpText, false, []byte(tt.s[:i]))),
							ep.Encode(rawpeer.Fragment(rawpeer.OpContinuation, true, []byte(tt.s[i:])))))
						ep.failed(1007, wsx.ErrInvalidUTF8)
					})
				}
			}
		})
	}
}

// TestConformanceUTF8FailFast sends text that is invalid from a byte on
// and never finishes the message: the close 1007 must come anyway.
func TestConformanceUTF8FailFast(t *testing.T) {
	prefixes := []struct{ name, s string }{
		{"byte ff", "ab\xff"},
		{"overlong lead", "abc\xc0"},
		{"surrogate", "\xed\xa0"},
		{"above U+10FFFF", "κ\xf4\x90"},
		{"lone continuation", "κ\x80"},
		{"overlong 3-byte", "\xe0\x9f"},
	}
	for _, s := range slices.Concat(bothSides(), chunkedSides) {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			for _, tt := range prefixes {
				t.Run("unfinished message/"+tt.name, func(t *testing.T) {
					ep := h.open(t)
					ep.WriteFrame(rawpeer.Fragment(rawpeer.OpText, false, []byte(tt.s)))
					ep.failed(1007, wsx.ErrInvalidUTF8)
				})
				t.Run("unfinished frame/"+tt.name, func(t *testing.T) {
					ep := h.open(t)
					payload := append([]byte(tt.s), bytes.Repeat([]byte("a"), 200)...)
					b := ep.Encode(rawpeer.Text(string(payload)))
					hl := len(b) - len(payload)
					ep.WriteRaw(b[:hl+len(tt.s)])
					ep.failed(1007, wsx.ErrInvalidUTF8)
				})
			}
		})
	}
}

// TestConformanceCloseCodes sends a close frame with every code from 0 to
// 5000 (and a few above): the codes RFC 6455 §7.4 allows on the wire are
// echoed and reported to the application, the rest fail the connection
// with 1002.
func TestConformanceCloseCodes(t *testing.T) {
	valid := func(code int) bool {
		return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
	}
	codes := make([]int, 0, 5010)
	for code := 0; code <= 5000; code++ {
		codes = append(codes, code)
	}
	codes = append(codes, 5001, 9999, 65535)
	for _, s := range oneEach() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			h := s.start(t, config{})
			nValid := 0
			for _, code := range codes {
				ep := h.open(t)
				ep.WriteFrame(rawpeer.Close(code, ""))
				if valid(code) {
					nValid++
					ep.WantClose(code)
					ep.Finish()
					if got := wsx.CloseStatus(ep.appErr()); got != wsx.StatusCode(code) {
						t.Fatalf("close %d: wsx read error %v, want CloseStatus %d", code, ep.appErr(), code)
					}
				} else {
					ep.WantClose(1002)
					ep.Finish()
					if err := ep.appErr(); !errors.Is(err, wsx.ErrProtocol) {
						t.Fatalf("close %d: wsx read error %v, want ErrProtocol", code, err)
					}
				}
				ep.end()
			}
			if nValid != 4+8+2000 {
				t.Fatalf("%d valid codes tried", nValid)
			}
		})
	}
}

// TestConformanceClose covers the rest of the closing handshake as the
// peer starts it (RFC 6455 §5.5.1, §7.1.5): payload forms, the reason,
// and that nothing is read or written after the close frame.
func TestConformanceClose(t *testing.T) {
	reason123 := strings.Repeat("é", 61) + "!"
	tests := []struct {
		name   string
		send   func(ep *endpoint)
		code   int            // the close code wsx answers with
		status wsx.StatusCode // the status the application sees, if the peer's close was valid
		reason string         // the reason the application sees
		kind   error          // the error the application sees, if wsx failed the connection
	}{
		{name: "empty close", send: frames(rawpeer.Close(rawpeer.NoStatus, "")),
			code: rawpeer.NoStatus, status: wsx.StatusNoStatusRcvd},
		{name: "code and reason", send: frames(rawpeer.Close(1001, "bye")),
			code: 1001, status: wsx.StatusGoingAway, reason: "bye"},
		{name: "123-byte reason", send: frames(rawpeer.Close(4000, reason123)),
			code: 4000, status: 4000, reason: reason123},
		{name: "124-byte reason", send: frames(rawpeer.Close(1000, strings.Repeat("r", 124))),
			code: 1002, kind: wsx.ErrProtocol},
		{name: "1-byte payload", send: frames(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpClose, Payload: []byte{0x03}}),
			code: 1002, kind: wsx.ErrProtocol},
		{name: "reason not UTF-8", send: frames(rawpeer.Close(1000, "bye\xff")),
			code: 1007, kind: wsx.ErrInvalidUTF8},
		{name: "reason with a surrogate", send: frames(rawpeer.Close(1000, "\xed\xa0\x80")),
			code: 1007, kind: wsx.ErrInvalidUTF8},
		{name: "reason truncated", send: frames(rawpeer.Close(1000, "κ\xce")),
			code: 1007, kind: wsx.ErrInvalidUTF8},
		{name: "between fragments", send: frames(
			rawpeer.Fragment(rawpeer.OpText, false, []byte("abc")),
			rawpeer.Close(1000, "mid-message")),
			code: 1000, status: wsx.StatusNormalClosure, reason: "mid-message"},
		{name: "frames after the close are ignored", send: func(ep *endpoint) {
			// One write, so that wsx has them all before it answers.
			ep.WriteRaw(slices.Concat(
				ep.Encode(rawpeer.Text("before")),
				ep.Encode(rawpeer.Close(1000, "")),
				ep.Encode(rawpeer.Text("after")),
				ep.Encode(rawpeer.Ping([]byte("after"))),
				ep.Encode(rawpeer.Close(1001, ""))))
			ep.wantEcho(rawpeer.OpText, []byte("before"))
		}, code: 1000, status: wsx.StatusNormalClosure},
		{name: "invalid frames after the close are ignored", send: func(ep *endpoint) {
			ep.WriteRaw(slices.Concat(
				ep.Encode(rawpeer.Close(3000, "")),
				ep.Encode(rawpeer.Frame{Fin: true, Opcode: 0x3}),
				ep.Encode(rawpeer.Text("\xff"))))
		}, code: 3000, status: 3000},
	}
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ep := h.open(t)
					tt.send(ep)
					if tt.kind != nil {
						ep.failed(tt.code, tt.kind)
						return
					}
					ep.WantClose(tt.code)
					// Nothing after the close frame: no echo of
					// later data, no pong.
					ep.Finish()
					ce := ep.wantAppStatus(tt.status)
					if ce.Reason != tt.reason {
						t.Fatalf("CloseError.Reason = %q, want %q", ce.Reason, tt.reason)
					}
					ep.wantNothingMoreGot()
				})
			}
		})
	}
}

// TestConformanceReadLimit checks that a message over the read limit fails
// the connection with 1009 as soon as a header announces it, before its
// payload arrives.
func TestConformanceReadLimit(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name string
		send func(ep *endpoint)
		ok   []byte // the message echoed, when it is within the limit
	}{
		{name: "at the limit", send: frames(rawpeer.Binary(binaryOf(limit, 5))), ok: binaryOf(limit, 5)},
		{name: "at the limit in fragments", send: frames(
			rawpeer.Fragment(rawpeer.OpBinary, false, binaryOf(limit, 5)[:600]),
			rawpeer.Ping([]byte("p")),
			rawpeer.Fragment(rawpeer.OpContinuation, true, binaryOf(limit, 5)[600:])),
			ok: binaryOf(limit, 5)},
		{name: "one over, header only", send: func(ep *endpoint) {
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, Length: limit + 1})
		}},
		{name: "text one over, header only", send: func(ep *endpoint) {
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpText, Length: limit + 1})
		}},
		{name: "1 TiB, header only", send: func(ep *endpoint) {
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, Length: 1 << 40})
		}},
		{name: "fragments add up over the limit", send: func(ep *endpoint) {
			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpBinary, false, make([]byte, 600)))
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpContinuation, Length: limit - 600 + 1})
		}},
		{name: "many fragments add up over the limit", send: func(ep *endpoint) {
			ep.WriteFrame(rawpeer.Fragment(rawpeer.OpText, false, bytes.Repeat([]byte("a"), 100)))
			for range limit/100 - 1 {
				ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, false, bytes.Repeat([]byte("a"), 100)))
			}
			ep.WriteHeader(rawpeer.Frame{Opcode: rawpeer.OpContinuation, Length: 1})
		}},
	}
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			h := s.start(t, config{readLimit: limit})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ep := h.open(t)
					tt.send(ep)
					if tt.ok != nil {
						m := ep.WantMessage()
						if !bytes.Equal(m.Payload, tt.ok) {
							t.Fatalf("echo of %d bytes, want %d", len(m.Payload), len(tt.ok))
						}
						ep.wantGot(wsx.MessageBinary, tt.ok)
						ep.closeHandshake()
						return
					}
					ep.failed(1009, wsx.ErrMessageTooBig)
				})
			}
		})
	}
}

// TestConformanceNoReadLimit checks that with the read limit removed a
// header announcing an enormous message is not taken as a reason to
// allocate it: the connection waits for the payload like any other.
func TestConformanceNoReadLimit(t *testing.T) {
	for _, s := range bothSides() {
		t.Run(s.name, func(t *testing.T) {
			ep := s.start(t, config{readLimit: -1}).open(t)
			ep.WriteHeader(rawpeer.Frame{Fin: true, Opcode: rawpeer.OpBinary, Length: 1 << 62})
			ep.WriteRaw(make([]byte, 100))
			ep.WantSilence(50 * time.Millisecond)
			ep.CloseWrite()
			ep.WantEOF()
			ep.wantAppErr(io.ErrUnexpectedEOF)
			ep.wantNothingMoreGot()
		})
	}
}

// TestConformanceCloseFromWsx checks the closing handshake as wsx starts
// it (RFC 6455 §7.1.2, §5.5.1), and CloseNow.
func TestConformanceCloseFromWsx(t *testing.T) {
	closeThen := func(check func(ctx context.Context, c *wsx.Conn) error) appFunc {
		return func(ctx context.Context, c *wsx.Conn, got chan<- message) error {
			if err := c.Close(wsx.StatusNormalClosure, "bye"); err != nil {
				return fmt.Errorf("Close: %w", err)
			}
			if check != nil {
				return check(ctx, c)
			}
			return nil
		}
	}
	tests := []struct {
		name string
		app  appFunc
		peer func(ep *endpoint)
	}{
		{
			name: "peer answers",
			app: closeThen(func(ctx context.Context, c *wsx.Conn) error {
				if err := c.Write(ctx, wsx.MessageText, []byte("x")); !errors.Is(err, wsx.ErrClosed) {
					return fmt.Errorf("Write after Close = %v, want ErrClosed", err)
				}
				if err := c.Close(wsx.StatusNormalClosure, ""); !errors.Is(err, wsx.ErrClosed) {
					return fmt.Errorf("second Close = %v, want ErrClosed", err)
				}
				return nil
			}),
			peer: func(ep *endpoint) {
				if r := ep.WantClose(1000); r != "bye" {
					ep.t.Fatalf("close reason %q, want %q", r, "bye")
				}
				ep.WriteFrame(rawpeer.Close(1000, ""))
			},
		},
		{
			name: "peer answers with an empty close",
			app:  closeThen(nil),
			peer: func(ep *endpoint) {
				ep.WantClose(1000)
				ep.WriteFrame(rawpeer.Close(rawpeer.NoStatus, ""))
			},
		},
		{
			name: "peer sends data and a ping before answering",
			app:  closeThen(nil),
			peer: func(ep *endpoint) {
				ep.WantClose(1000)
				ep.WriteFrame(rawpeer.Text("late"))
				ep.WriteFrame(rawpeer.Fragment(rawpeer.OpBinary, false, []byte("late")))
				ep.WriteFrame(rawpeer.Ping([]byte("late")))
				ep.WriteFrame(rawpeer.Fragment(rawpeer.OpContinuation, true, []byte("late")))
				ep.WriteFrame(rawpeer.Close(1000, ""))
				// Finish checks that no pong followed the
				// close frame.
			},
		},
		{
			name: "with a reader running",
			app: func(ctx context.Context, c *wsx.Conn, got chan<- message) error {
				errc := make(chan error, 1)
				go func() {
					_, _, err := c.Read(ctx)
					errc <- err
				}()
				err := c.Close(wsx.StatusGoingAway, "bye")
				if rerr := <-errc; wsx.CloseStatus(rerr) != 4321 {
					return fmt.Errorf("Read = %v, want the peer's close 4321", rerr)
				}
				return err
			},
			peer: func(ep *endpoint) {
				ep.WantClose(1001)
				ep.WriteFrame(rawpeer.Close(4321, "ok"))
			},
		},
		{
			name: "invalid code is refused before anything is sent",
			app: func(ctx context.Context, c *wsx.Conn, got chan<- message) error {
				for _, code := range []wsx.StatusCode{0, 999, 1004, 1005, 1006, 1015, 2000, 5000} {
					if err := c.Close(code, ""); err == nil {
						return fmt.Errorf("Close(%d) = nil", code)
					}
				}
				if err := c.Close(1000, strings.Repeat("r", 124)); err == nil {
					return errors.New("Close with a 124-byte reason = nil")
				}
				if err := c.Close(1000, "\xff"); !errors.Is(err, wsx.ErrInvalidUTF8) {
					return fmt.Errorf("Close with a reason not UTF-8 = %v, want ErrInvalidUTF8", err)
				}
				return c.Close(3000, strings.Repeat("é", 61)+"!")
			},
			peer: func(ep *endpoint) {
				ep.WantClose(3000)
				ep.WriteFrame(rawpeer.Close(3000, ""))
			},
		},
		{
			name: "CloseNow",
			app: func(ctx context.Context, c *wsx.Conn, got chan<- message) error {
				if err := c.CloseNow(); err != nil {
					return fmt.Errorf("CloseNow: %w", err)
				}
				if _, _, err := c.Read(ctx); !errors.Is(err, wsx.ErrClosed) {
					return fmt.Errorf("Read after CloseNow = %v, want ErrClosed", err)
				}
				if err := c.Write(ctx, wsx.MessageText, []byte("x")); !errors.Is(err, wsx.ErrClosed) {
					return fmt.Errorf("Write after CloseNow = %v, want ErrClosed", err)
				}
				if err := c.CloseNow(); !errors.Is(err, wsx.ErrClosed) {
					return fmt.Errorf("second CloseNow = %v, want ErrClosed", err)
				}
				return nil
			},
			peer: func(ep *endpoint) {},
		},
	}
	for _, s := range oneEach() {
		t.Run(s.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ep := s.start(t, config{app: tt.app}).open(t)
					tt.peer(ep)
					ep.Finish()
					if err := ep.appErr(); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestConformanceCloseTimeout checks that Close gives up on a peer that
// never answers its close frame after about 5 seconds, and closes TCP.
func TestConformanceCloseTimeout(t *testing.T) {
	t.Parallel()
	var elapsed time.Duration
	app := func(ctx context.Context, c *wsx.Conn, got chan<- message) error {
		start := time.Now()
		err := c.Close(wsx.StatusNormalClosure, "")
		elapsed = time.Since(start)
		return err
	}
	ep := serverSides[0].start(t, config{app: app}).open(t)
	ep.Timeout = 10 * time.Second
	ep.WantClose(1000)
	ep.WantEOF()
	if err := ep.appErr(); !errors.Is(err, wsx.ErrClosed) {
		t.Fatalf("Close = %v, want an error wrapping ErrClosed", err)
	}
	if elapsed < 4500*time.Millisecond || elapsed > 8*time.Second {
		t.Fatalf("Close returned after %v, want about 5s", elapsed)
	}
}
