package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wsx-go/wsx"
)

// serveConfig holds the flags of "wsx serve".
type serveConfig struct {
	addr           string
	maxMessageSize int64
	compression    wsx.CompressionMode
}

// compressionFlag parses --compression.
type compressionFlag struct{ mode *wsx.CompressionMode }

var compressionNames = map[string]wsx.CompressionMode{
	"off":              wsx.CompressionDisabled,
	"on":               wsx.CompressionNoContextTakeover,
	"context-takeover": wsx.CompressionContextTakeover,
}

func (f compressionFlag) String() string {
	if f.mode == nil {
		return ""
	}
	for name, m := range compressionNames {
		if m == *f.mode {
			return name
		}
	}
	return ""
}

func (f compressionFlag) Set(s string) error {
	m, ok := compressionNames[s]
	if !ok {
		return fmt.Errorf("want off, on or context-takeover")
	}
	*f.mode = m
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("wsx serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", ":8080", "address to listen on (host:port; port 0 picks a free port)")
	fs.Int64Var(&cfg.maxMessageSize, "max-message-size", wsx.DefaultReadLimit, "largest message accepted, in bytes; larger ones are refused with close code 1009")
	cfg.compression = wsx.CompressionNoContextTakeover
	fs.Var(compressionFlag{&cfg.compression}, "compression", "permessage-deflate: off, on (each message compressed on its own; no memory held between messages) or context-takeover (better ratio, about 130 KiB more per connection)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wsx serve [flags]\n\nRuns a WebSocket echo server: every message sent to ws://ADDR/ comes back\nwith the same type and content.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	e := &echoServer{cfg: cfg, log: log, conns: map[*wsx.Conn]struct{}{}}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "wsx: echo server listening on %s\n", listenURL(ln.Addr()))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	e.closeAll()
	return nil
}

// listenURL is the ws:// URL clients use for a listener address; an
// unspecified host is shown as localhost.
func listenURL(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "ws://" + net.JoinHostPort(host, port) + "/"
}

// echoServer sends every message back to its sender.
type echoServer struct {
	cfg serveConfig
	log *slog.Logger

	mu    sync.Mutex
	conns map[*wsx.Conn]struct{}
	wg    sync.WaitGroup
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	c, err := wsx.Accept(w, r, &wsx.AcceptOptions{
		InsecureSkipOriginCheck: true,
		ReadLimit:               e.cfg.maxMessageSize,
		CompressionMode:         e.cfg.compression,
		// Compress every message once compression is agreed, however
		// small: some clients (libwebsockets up to 4.3) stall on the
		// uncompressed messages RFC 7692 allows.
		CompressionThreshold: -1,
	})
	if err != nil {
		e.log.Debug("handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		e.wg.Done()
	}()
	echo(r.Context(), c)
}

// closeAll tells every client the server is going away and waits briefly
// for the close handshakes.
func (e *echoServer) closeAll() {
	e.mu.Lock()
	for c := range e.conns {
		go c.Close(wsx.StatusGoingAway, "server shutting down")
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// copyBufs holds the buffers echo streams messages through; a connection
// holds one only while a message passes.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// echo copies each message back to the client with the same type,
// streaming it so that a message of any size passes through a fixed buffer.
func echo(ctx context.Context, c *wsx.Conn) error {
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return err
		}
		bp := copyBufs.Get().(*[]byte)
		_, err = io.CopyBuffer(w, r, *bp)
		copyBufs.Put(bp)
		if err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
}
