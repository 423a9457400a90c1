package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wsx-go/wsx"
)

// serveConfig holds the flags of "wsx serve".
type serveConfig struct {
	addr             string
	tlsCert, tlsKey  string
	origins          []string
	maxMessageSize   int64
	maxConns         int
	idleTimeout      time.Duration
	pingInterval     time.Duration
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	compression      wsx.CompressionMode
	logFormat        string
	logLevel         slog.Level
	broker           string
}

const serveUsage = `Usage: wsx serve [flags]

Runs a WebSocket echo server. Every message sent to ws://ADDR/ comes back
with the same type and content; a browser opening http://ADDR/ gets the
echo tool, a page to try any WebSocket server.

Endpoints:
  /          echo on WebSocket upgrade; the echo tool page otherwise
  /echo      echo, WebSocket only (426 to other requests)
  /headers   WebSocket: the request line and headers as a JSON text
             message, then echo
  /healthz   200 "ok" while serving, 503 "draining" while shutting down
  /metrics   Prometheus metrics (wsx_*)
  /chat      WebSocket: chat rooms shared by every server on the same
             --broker, in JSON (see the README); the chat page otherwise

Each flag can also be set with the environment variable shown in brackets;
the command line wins.

Flags:
`

// serveFlags defines the flags of "wsx serve" on fs.
func serveFlags(fs *flag.FlagSet, cfg *serveConfig) {
	fs.StringVar(&cfg.addr, "addr", ":8080", "`address` to listen on, host:port (port 0 picks a free port)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM, chain included); with --tls-key, serve wss:// and https://")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.Var(listFlag{&cfg.origins}, "origin", "browser origins allowed besides the server's own host, comma-separated `patterns`\nsuch as example.com, *.example.com, https://app.example.com or * for any\n(clients that send no Origin, such as command-line tools, are always allowed)")
	cfg.maxMessageSize = wsx.DefaultReadLimit
	fs.Var(sizeFlag{&cfg.maxMessageSize}, "max-message-size", "largest message accepted (`size` such as 65536, 64KiB, 1MiB; none for no limit);\nlarger ones are refused with close code 1009")
	fs.IntVar(&cfg.maxConns, "max-conns", 10000, "most WebSocket connections at once (`n`); more are refused with 503 before upgrading")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 10*time.Minute, "close a connection with 1001 after this long without a message either way (0: never)")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", 30*time.Second, "ping a client silent for this long, and close it with 1011 if nothing\narrives within as long again (0: no pings)")
	fs.DurationVar(&cfg.handshakeTimeout, "handshake-timeout", 10*time.Second, "drop a connection that has not sent a whole request (and finished TLS) within this time")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGINT or SIGTERM, how long to wait for clients to answer close 1001 before cutting them off")
	cfg.compression = wsx.CompressionNoContextTakeover
	fs.Var(choiceFlag[wsx.CompressionMode]{&cfg.compression, compressionChoices}, "compression", "permessage-deflate `mode`: off, on (each message compressed on its own; no memory held\nbetween messages) or context-takeover (better ratio, about 130 KiB more per connection)")
	cfg.logFormat = "text"
	fs.Var(choiceFlag[string]{&cfg.logFormat, logFormatChoices}, "log-format", "log `format` on stderr: text or json")
	cfg.logLevel = slog.LevelInfo
	fs.Var(choiceFlag[slog.Level]{&cfg.logLevel, logLevelChoices}, "log-level", "least important log `level` shown: debug, info, warn or error")
	fs.StringVar(&cfg.broker, "broker", "memory", "where /chat rooms meet: memory (this server only) or the `URL` of a NATS server,\nnats://HOST:PORT, shared by every server with rooms in common (comma-separated for a cluster)")
}

var serveFlagOrder = []string{"addr", "tls-cert", "tls-key", "origin", "max-message-size", "max-conns",
	"idle-timeout", "ping-interval", "handshake-timeout", "shutdown-timeout", "compression", "broker", "log-format", "log-level"}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("wsx serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serveFlags(fs, &cfg)
	fs.Usage = func() {}
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serveUsage)
			printFlags(stdout, fs, flagList{order: serveFlagOrder, env: true})
			return nil
		}
		if !fs.Parsed() {
			// The flag package has not printed this one.
			fmt.Fprintf(stderr, "wsx serve: %v\n", err)
		}
		fmt.Fprintln(stderr, `Run "wsx serve -h" for the flags.`)
		return exitCode(2)
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintf(stderr, "wsx serve: %v\n", err)
		return exitCode(2)
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)

	var tlsConfig *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	e := newEchoServer(cfg, log)
	if e.chat, err = newChatServer(cfg, log, e.metrics); err != nil {
		ln.Close()
		return err
	}
	defer e.chat.close()
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.handshakeTimeout,
		ReadTimeout:       cfg.handshakeTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ConnState:         e.connState,
		ConnContext:       e.connContext,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// HTTP/1.1 only: WebSocket over HTTP/2 (RFC 8441) is not served.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	url := listenURL(ln.Addr(), tlsConfig != nil)
	fmt.Fprintf(stdout, "wsx: echo server listening on %s\n", url)
	log.Info("listening", "url", url, "max_conns", cfg.maxConns, "max_message_size", cfg.maxMessageSize,
		"compression", compressionName(cfg.compression), "broker", redactBroker(cfg.broker), "ping_interval", cfg.pingInterval, "idle_timeout", cfg.idleTimeout)

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	// Drain: /healthz turns 503 and new WebSocket clients are refused
	// while open ones get close 1001 and until --shutdown-timeout to
	// answer; then the listener closes.
	start := time.Now()
	log.Info("shutting down", "open", e.open.Load(), "timeout", cfg.shutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	cut := e.goAway(drainCtx)
	srv.Shutdown(drainCtx)
	srv.Close()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond), "cut_off", cut)
	return nil
}

// check rejects flag combinations that cannot work.
func (c *serveConfig) check() error {
	switch {
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case c.maxConns < 1:
		return errors.New("--max-conns must be at least 1")
	case c.handshakeTimeout <= 0:
		return errors.New("--handshake-timeout must be positive")
	case c.shutdownTimeout < 0, c.idleTimeout < 0, c.pingInterval < 0:
		return errors.New("durations may not be negative")
	}
	if c.broker != "" && c.broker != "memory" {
		for _, s := range strings.Split(c.broker, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
				return fmt.Errorf("--broker %q: want memory or nats://HOST:PORT", c.broker)
			}
		}
	}
	return nil
}

func compressionName(m wsx.CompressionMode) string {
	return choiceFlag[wsx.CompressionMode]{&m, compressionChoices}.String()
}

// listenURL is the URL clients use for a listener address; an unspecified
// host is shown as localhost.
func listenURL(a net.Addr, tls bool) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	scheme := "ws://"
	if tls {
		scheme = "wss://"
	}
	return scheme + net.JoinHostPort(host, port) + "/"
}
