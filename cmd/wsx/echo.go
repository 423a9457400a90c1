package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsx-go/wsx"
)

// maxPendingHTTP bounds the TCP connections that have not (yet) become
// WebSocket connections: handshakes in progress, page and metrics
// requests, idle keep-alive connections. More are closed as they arrive,
// so a flood of connections that never finish a request cannot exhaust
// file descriptors before --handshake-timeout drops them.
const maxPendingHTTP = 1024

// echoServer is the HTTP side of "wsx serve": the echo endpoints, the page,
// health and metrics.
type echoServer struct {
	cfg      serveConfig
	log      *slog.Logger
	metrics  *metrics
	page     http.Handler
	static   http.Handler
	chat     *chatServer // set by runServe
	chatPage http.Handler

	draining atomic.Bool
	open     atomic.Int64 // WebSocket connections, for --max-conns
	pending  atomic.Int64 // TCP connections not taken over by WebSocket

	mu       sync.Mutex
	conns    map[*wsx.Conn]struct{}
	active   sync.WaitGroup // one per WebSocket connection
	httpMu   sync.Mutex
	tcpConns map[net.Conn]*httpConn // TCP connections not (yet) WebSocket
}

func newEchoServer(cfg serveConfig, log *slog.Logger) *echoServer {
	e := &echoServer{
		cfg:      cfg,
		log:      log,
		metrics:  newMetrics(),
		conns:    map[*wsx.Conn]struct{}{},
		tcpConns: map[net.Conn]*httpConn{},
	}
	e.page, e.static = pageHandler()
	e.chatPage = htmlPage("chat.html")
	return e
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if hc, ok := r.Context().Value(httpConnKey{}).(*httpConn); ok {
		hc.served.Store(true)
	}
	path := r.URL.Path
	switch {
	case path == "/":
		// The page answers GET and HEAD; everything else is a
		// handshake, which Accept refuses with the right status.
		if wsx.IsUpgrade(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			e.upgrade(w, r, nil)
		} else {
			e.page.ServeHTTP(w, r)
		}
	case path == "/echo":
		e.upgrade(w, r, nil)
	case path == "/headers":
		e.upgrade(w, r, requestJSON(r))
	case path == "/chat" && e.chat != nil:
		if wsx.IsUpgrade(r) {
			e.accept(w, r, e.chat.serve)
		} else {
			e.chatPage.ServeHTTP(w, r)
		}
	case path == "/healthz":
		e.health(w, r)
	case path == "/metrics":
		e.metrics.handler().ServeHTTP(w, r)
	case strings.HasPrefix(path, "/static/"):
		e.static.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// health answers 200 while serving and 503 once shutdown has begun, so a
// load balancer stops sending new clients.
func (e *echoServer) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if e.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "draining\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// statusRecorder remembers the status code Accept answered a refused
// handshake with. Unwrap lets Accept take over the connection through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func refusalOutcome(status int) string {
	switch status {
	case http.StatusForbidden:
		return outcomeForbidden
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUpgradeRequired:
		return outcomeBadRequest
	}
	return outcomeError
}

// upgrade accepts a WebSocket connection and echoes its messages; first, if
// not nil, is sent before anything is echoed.
func (e *echoServer) upgrade(w http.ResponseWriter, r *http.Request, first []byte) {
	e.accept(w, r, func(c *wsx.Conn, st *connStats) error { return e.echo(c, first, st) })
}

// accept accepts a WebSocket connection, tracked for shutdown, counted and
// logged, and runs serve on it until it ends, in a goroutine of its own:
// the handler returns at once, so that net/http lets go of the buffers and
// request it holds for the connection (about 10 KB).
func (e *echoServer) accept(w http.ResponseWriter, r *http.Request, serve func(*wsx.Conn, *connStats) error) {
	refuse := func(outcome, msg string) {
		e.metrics.handshakes.WithLabelValues(outcome).Inc()
		w.Header().Set("Retry-After", "5")
		http.Error(w, msg, http.StatusServiceUnavailable)
		e.log.Debug("handshake refused", "remote", r.RemoteAddr, "path", r.URL.Path, "status", http.StatusServiceUnavailable, "reason", msg)
	}
	if e.draining.Load() {
		refuse(outcomeDraining, "server is shutting down")
		return
	}
	if e.open.Add(1) > int64(e.cfg.maxConns) {
		e.open.Add(-1)
		refuse(outcomeOverCapacity, "server is at its connection limit")
		return
	}
	served := false
	defer func() {
		if !served {
			e.open.Add(-1)
		}
	}()

	rec := &statusRecorder{ResponseWriter: w}
	c, err := wsx.Accept(rec, r, &wsx.AcceptOptions{
		// An echo server speaks every subprotocol: it agrees to the
		// client's first choice.
		Subprotocols:    firstSubprotocol(r),
		OriginPatterns:  e.cfg.origins,
		ReadLimit:       e.cfg.maxMessageSize,
		CompressionMode: e.cfg.compression,
		// Compress every message once compression is agreed, however
		// small: some clients (libwebsockets up to 4.3) stall on the
		// uncompressed messages RFC 7692 allows.
		CompressionThreshold: -1,
		PingInterval:         e.cfg.pingInterval,
		IdleTimeout:          e.cfg.idleTimeout,
	})
	if err != nil {
		outcome := refusalOutcome(rec.status)
		e.metrics.handshakes.WithLabelValues(outcome).Inc()
		e.log.Debug("handshake refused", "remote", r.RemoteAddr, "path", r.URL.Path, "status", rec.status, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	e.metrics.handshakes.WithLabelValues(outcomeAccepted).Inc()
	e.metrics.open.Inc()
	if !e.track(c) {
		// Shutdown began during the handshake.
		c.Close(wsx.StatusGoingAway, "server shutting down")
		e.metrics.closed(c, 0)
		return
	}
	log := e.log.With("remote", r.RemoteAddr, "path", r.URL.Path)
	log.Info("connection open",
		"subprotocol", c.Subprotocol(),
		"extensions", rec.Header().Get("Sec-WebSocket-Extensions"),
		"origin", r.Header.Get("Origin"),
		"user_agent", r.UserAgent())
	served = true
	go e.run(c, log, serve)
}

// run serves an accepted connection until it ends, then logs and counts
// its end.
func (e *echoServer) run(c *wsx.Conn, log *slog.Logger, serve func(*wsx.Conn, *connStats) error) {
	defer e.open.Add(-1)
	defer e.untrack(c)
	start := time.Now()
	st := &connStats{}
	err := serve(c, st)
	c.CloseNow()
	lasted := time.Since(start)
	e.metrics.closed(c, lasted)
	attrs := []any{
		"duration", lasted.Round(time.Millisecond),
		"messages_in", st.msgsIn, "messages_out", st.msgsOut,
		"bytes_in", st.bytesIn, "bytes_out", st.bytesOut,
		"close_sent", closeCode(c.CloseSent()),
		"close_received", closeCode(c.CloseReceived()),
	}
	if wsx.CloseStatus(err) < 0 {
		// Not a close frame from the client: say what ended it.
		attrs = append(attrs, "err", err)
	}
	log.Info("connection closed", attrs...)
}

// closeCode is a close frame's code for a log line: 0 when none was sent
// or received.
func closeCode(ce wsx.CloseError, ok bool) int {
	if !ok {
		return 0
	}
	return int(ce.Code)
}

// firstSubprotocol returns the first subprotocol the client offers, if any.
func firstSubprotocol(r *http.Request) []string {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				return []string{p}
			}
		}
	}
	return nil
}

// track registers an open connection for shutdown; it fails once shutdown
// has begun.
func (e *echoServer) track(c *wsx.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining.Load() {
		return false
	}
	e.conns[c] = struct{}{}
	e.active.Add(1)
	return true
}

func (e *echoServer) untrack(c *wsx.Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	e.active.Done()
}

// connStats counts one connection's traffic for its log line.
type connStats struct {
	msgsIn, msgsOut   int64
	bytesIn, bytesOut int64
}

// copyBufs holds the buffers echo streams messages through; a connection
// holds one only while a message passes.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// echo copies each message back to the client with the same type,
// streaming it so that a message of any size passes through a fixed buffer.
func (e *echoServer) echo(c *wsx.Conn, first []byte, st *connStats) error {
	ctx := context.Background()
	if first != nil {
		if err := c.Write(ctx, wsx.MessageText, first); err != nil {
			return err
		}
		st.msgsOut++
		st.bytesOut += int64(len(first))
		e.metrics.sent(wsx.MessageText, int64(len(first)))
	}
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		start := time.Now()
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return err
		}
		bp := copyBufs.Get().(*[]byte)
		n, err := io.CopyBuffer(w, r, *bp)
		copyBufs.Put(bp)
		st.msgsIn++
		st.bytesIn += n
		if err != nil {
			w.Close()
			e.metrics.received(typ, n)
			return err
		}
		if err := w.Close(); err != nil {
			e.metrics.received(typ, n)
			return err
		}
		st.msgsOut++
		st.bytesOut += n
		e.metrics.echoed(typ, n, time.Since(start))
	}
}

// requestJSON describes a request for the /headers endpoint.
func requestJSON(r *http.Request) []byte {
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	type header struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var hs []header
	for _, k := range names {
		for _, v := range r.Header[k] {
			hs = append(hs, header{k, v})
		}
	}
	b, _ := json.Marshal(struct {
		Method     string   `json:"method"`
		URI        string   `json:"uri"`
		Proto      string   `json:"proto"`
		Host       string   `json:"host"`
		RemoteAddr string   `json:"remote_addr"`
		Headers    []header `json:"headers"`
	}{r.Method, r.RequestURI, r.Proto, r.Host, r.RemoteAddr, hs})
	return b
}

// httpConn is what the server tracks of a TCP connection until it becomes
// a WebSocket connection or closes.
type httpConn struct {
	served atomic.Bool // a whole request arrived
}

type httpConnKey struct{}

// connContext starts tracking a new TCP connection and puts the tracker in
// the context of its requests.
func (e *echoServer) connContext(ctx context.Context, nc net.Conn) context.Context {
	hc := &httpConn{}
	e.httpMu.Lock()
	e.tcpConns[nc] = hc
	e.httpMu.Unlock()
	return context.WithValue(ctx, httpConnKey{}, hc)
}

// connState keeps the count of TCP connections not taken over by
// WebSocket, refuses connections over maxPendingHTTP, and counts
// connections that closed without sending a whole request (handshake
// timeouts, whether they sent nothing or part of a request).
func (e *echoServer) connState(nc net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		if e.pending.Add(1) > maxPendingHTTP {
			e.log.Warn("too many pending connections; closing a new one", "remote", nc.RemoteAddr(), "limit", maxPendingHTTP)
			nc.Close()
		}
	case http.StateHijacked, http.StateClosed:
		e.httpMu.Lock()
		hc, known := e.tcpConns[nc]
		delete(e.tcpConns, nc)
		e.httpMu.Unlock()
		if !known {
			return
		}
		e.pending.Add(-1)
		if state == http.StateClosed && !hc.served.Load() {
			e.metrics.handshakes.WithLabelValues(outcomeIncomplete).Inc()
			e.log.Debug("connection closed before a complete request", "remote", nc.RemoteAddr())
		}
	}
}

// goAway sends close 1001 to every open connection and waits until all
// have ended or ctx ends, when the rest are closed at once. It returns the
// number of connections that had to be cut off.
func (e *echoServer) goAway(ctx context.Context) int {
	e.mu.Lock()
	e.draining.Store(true)
	conns := make([]*wsx.Conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		go c.Close(wsx.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		e.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	e.mu.Lock()
	cut := len(e.conns)
	for c := range e.conns {
		c.CloseNow()
	}
	e.mu.Unlock()
	<-done
	return cut
}
