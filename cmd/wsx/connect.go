package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsx-go/wsx"
)

// Exit statuses of "wsx connect".
const (
	exitOK           = 0 // closed normally (1000, 1001 or no status), or input ended
	exitError        = 1 // any other failure, such as unreadable input
	exitUsage        = 2 // bad flags or arguments
	exitConnect      = 3 // no connection: DNS, TCP, TLS or proxy failed
	exitRefused      = 4 // the server refused the WebSocket handshake
	exitProtocol     = 5 // the server broke the protocol (wsx closed with 1002, 1007 or 1009)
	exitAbnormal     = 6 // the connection ended without a close frame
	exitCloseCode    = 7 // the server closed with a status other than 1000, 1001 or none
	exitWaitTimedOut = 8 // -n replies did not arrive within --wait
)

const connectUsage = `Usage: wsx connect [flags] URL

Connects to a WebSocket server (ws:// or wss://) and sends what you type.

On a terminal it is interactive: each line you enter is sent as a text
message, received messages appear above the prompt, and lines starting with
/ are commands (/help lists them). History is kept between sessions.

Otherwise it is scriptable: each line of standard input is sent as a text
message and each message received is written to standard output on its own
line (binary messages in hex or base64). With -x, the given messages are
sent instead of reading input. After the input ends, wsx connect waits for
as many replies as it sent messages (or -n), at most --wait, then closes.

Exit status: 0 closed normally (status 1000, 1001 or none) or input ended;
1 other error; 2 usage; 3 connection failed (DNS, TCP, TLS, proxy);
4 handshake refused (the HTTP status and headers are printed); 5 protocol
error from the server; 6 connection lost without a close frame; 7 closed by
the server with another status code; 8 -n replies not received within --wait.

Flags:
`

// connectConfig holds the flags of "wsx connect".
type connectConfig struct {
	url            string
	headers        []string
	subprotocols   []string
	origin         string
	insecure       bool
	caFile         string
	certFile       string
	keyFile        string
	proxy          string
	compression    wsx.CompressionMode
	binaryFormat   string
	json           bool
	pingInterval   time.Duration
	reconnect      bool
	showHeaders    bool
	execute        []string
	count          int
	wait           time.Duration
	timestamps     bool
	connectTimeout time.Duration
	maxMessageSize int64
	noColor        bool
}

// stringsFlag collects every occurrence of a repeatable flag as it is.
type stringsFlag struct{ list *[]string }

func (f stringsFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, " ")
}

func (f stringsFlag) Set(s string) error {
	*f.list = append(*f.list, s)
	return nil
}

var binaryFormatChoices = []choice[string]{{"hex", "hex"}, {"base64", "base64"}}

func connectFlags(fs *flag.FlagSet, cfg *connectConfig) {
	fs.Var(stringsFlag{&cfg.headers}, "H", "add a request `header` such as \"Authorization: Bearer x\" (repeatable)")
	fs.Var(listFlag{&cfg.subprotocols}, "subprotocol", "offer these subprotocols, most preferred first (comma-separated or repeated)")
	fs.StringVar(&cfg.origin, "origin", "", "send this Origin header, as a browser page of that origin would")
	fs.BoolVar(&cfg.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.StringVar(&cfg.caFile, "ca", "", "verify the server's certificate against the CA certificates in this PEM `file`")
	fs.StringVar(&cfg.certFile, "cert", "", "client certificate PEM `file` for TLS client authentication (with --key)")
	fs.StringVar(&cfg.keyFile, "key", "", "client private key PEM `file`")
	fs.StringVar(&cfg.proxy, "proxy", "", "HTTP or HTTPS proxy `URL` (with user:password@ for Basic authentication);\n\"none\" connects directly; default: HTTPS_PROXY, HTTP_PROXY and NO_PROXY")
	cfg.compression = wsx.CompressionNoContextTakeover
	fs.Var(choiceFlag[wsx.CompressionMode]{&cfg.compression, compressionChoices}, "compression", "permessage-deflate `mode` to offer: off, on or context-takeover")
	cfg.binaryFormat = "hex"
	fs.Var(choiceFlag[string]{&cfg.binaryFormat, binaryFormatChoices}, "binary", "how binary messages are shown: hex or base64 (`format`)")
	fs.BoolVar(&cfg.json, "json", false, "pretty-print messages that are JSON")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", 0, "ping the server when it has been silent this long; close with 1011 if it does not answer")
	fs.BoolVar(&cfg.reconnect, "reconnect", false, "reconnect with backoff when the connection is lost; reconnect events go to stderr")
	fs.BoolVar(&cfg.showHeaders, "show-headers", false, "print the handshake response status and headers to stderr")
	fs.Var(stringsFlag{&cfg.execute}, "x", "send this text `message` instead of reading input (repeatable)")
	fs.IntVar(&cfg.count, "n", -1, "after sending, wait for this many messages (default: one per message sent)")
	fs.DurationVar(&cfg.wait, "wait", 5*time.Second, "after sending, wait at most this long for replies")
	fs.BoolVar(&cfg.timestamps, "timestamps", false, "show the time each message arrived")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 10*time.Second, "give up connecting after this long")
	cfg.maxMessageSize = wsx.DefaultReadLimit
	fs.Var(sizeFlag{&cfg.maxMessageSize}, "max-message-size", "largest message accepted (`size` such as 1MiB, or none); larger ones close with 1009")
	fs.BoolVar(&cfg.noColor, "no-color", false, "no colours (also when NO_COLOR is set)")
}

// Long and short spellings of the same flag.
var connectAliases = map[string]string{"execute": "x", "header": "H", "count": "n"}

func runConnect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg connectConfig
	fs := flag.NewFlagSet("wsx connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	connectFlags(fs, &cfg)
	for long, short := range connectAliases {
		f := fs.Lookup(short)
		fs.Var(f.Value, long, "same as -"+short)
	}
	fs.Usage = func() {}
	args = interspersed(fs, args)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, connectUsage)
			printConnectFlags(stdout, fs)
			return nil
		}
		fmt.Fprintln(stderr, `Run "wsx connect -h" for the flags.`)
		return exitCode(exitUsage)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "wsx connect: want exactly one URL")
		fmt.Fprintln(stderr, `Run "wsx connect -h" for the flags.`)
		return exitCode(exitUsage)
	}
	cfg.url = fs.Arg(0)
	opts, err := cfg.dialOptions()
	if err != nil {
		fmt.Fprintf(stderr, "wsx connect: %v\n", err)
		return exitCode(exitUsage)
	}
	ui := newConnectUI(&cfg, stdin, stdout, stderr)
	if ui.interactive() {
		if err := ui.startTerminal(); err != nil {
			fmt.Fprintf(stderr, "wsx connect: terminal: %v\n", err)
			return exitCode(exitError)
		}
		defer ui.close()
	}
	if cfg.reconnect {
		return connectReconnecting(ctx, &cfg, opts, ui)
	}
	return connectOnce(ctx, &cfg, opts, ui)
}

// interspersed moves the URL, wherever it is among the flags, to the end,
// so that "wsx connect URL -x hi" works as "wsx connect -x hi URL".
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(flags, rest...)
}

func printConnectFlags(w io.Writer, fs *flag.FlagSet) {
	fs2 := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if _, alias := connectAliases[f.Name]; !alias {
			fs2.Var(f.Value, f.Name, f.Usage)
			fs2.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	fs2.SetOutput(w)
	fs2.PrintDefaults()
	fmt.Fprintln(w, "  --execute, --header and --count are the long names of -x, -H and -n.")
}

// dialOptions turns the flags into wsx.DialOptions.
func (cfg *connectConfig) dialOptions() (*wsx.DialOptions, error) {
	o := &wsx.DialOptions{
		HTTPHeader:      http.Header{},
		Subprotocols:    cfg.subprotocols,
		CompressionMode: cfg.compression,
		ReadLimit:       cfg.maxMessageSize,
		PingInterval:    cfg.pingInterval,
	}
	for _, h := range cfg.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("-H %q: want \"Name: value\"", h)
		}
		o.HTTPHeader.Add(name, strings.TrimSpace(value))
	}
	if cfg.origin != "" {
		o.HTTPHeader.Set("Origin", cfg.origin)
	}
	if cfg.insecure || cfg.caFile != "" || cfg.certFile != "" || cfg.keyFile != "" {
		tc := &tls.Config{InsecureSkipVerify: cfg.insecure}
		if cfg.caFile != "" {
			pem, err := os.ReadFile(cfg.caFile)
			if err != nil {
				return nil, fmt.Errorf("--ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca: no PEM certificate in %s", cfg.caFile)
			}
		}
		if (cfg.certFile == "") != (cfg.keyFile == "") {
			return nil, errors.New("--cert and --key go together")
		}
		if cfg.certFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
			if err != nil {
				return nil, fmt.Errorf("--cert/--key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		o.TLSConfig = tc
	}
	switch cfg.proxy {
	case "":
	case "none":
		o.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	default:
		u, err := url.Parse(cfg.proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--proxy %q: want http://HOST:PORT or https://HOST:PORT", cfg.proxy)
		}
		o.Proxy = http.ProxyURL(u)
	}
	return o, nil
}

// dialError reports a failed Dial and returns the exit status for it.
func dialError(ui *connectUI, err error, resp *http.Response) exitCode {
	if errors.Is(err, wsx.ErrHandshake) {
		ui.errorf("handshake refused: %v", err)
		if resp != nil {
			ui.printResponse(resp, true)
		}
		return exitRefused
	}
	ui.errorf("connection failed: %v", err)
	return exitConnect
}

// connectOnce is "wsx connect" without --reconnect: one connection, used
// until either side closes it.
func connectOnce(ctx context.Context, cfg *connectConfig, opts *wsx.DialOptions, ui *connectUI) error {
	dctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	c, resp, err := wsx.Dial(dctx, cfg.url, opts)
	cancel()
	if err != nil {
		return dialError(ui, err, resp)
	}
	defer c.CloseNow()
	if cfg.showHeaders {
		ui.printResponse(resp, false)
	}
	ui.connected(cfg.url, c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Extensions"), "")

	s := &session{cfg: cfg, ui: ui, conn: c, replies: newReplies(cfg)}
	readDone := make(chan error, 1)
	go func() { readDone <- s.readLoop() }()

	// The input side may be blocked reading a terminal or a pipe, which
	// cannot be interrupted; when the connection ends first, the process
	// exits without waiting for it.
	inputDone := make(chan error, 1)
	go func() { inputDone <- ui.input(ctx, s) }()

	var inputErr error
	select {
	case err := <-readDone:
		return s.exitFor(err)
	case inputErr = <-inputDone:
	case <-ctx.Done():
	}
	if errors.Is(inputErr, wsx.ErrClosed) {
		// A send failed because the connection is closing: how it
		// ended is the reader's to tell.
		select {
		case err := <-readDone:
			return s.exitFor(err)
		case <-time.After(closeWait):
		}
	}
	code := inputStatus(ui, inputErr)
	closeCode, closeReason := s.closeRequest()
	c.Close(closeCode, closeReason)
	err = <-readDone
	if code != exitOK {
		return code
	}
	if wsx.CloseStatus(err) == closeCode || errors.Is(err, wsx.ErrClosed) {
		ui.info("closed: %v", closeCode)
		return nil
	}
	return s.exitFor(err)
}

// inputStatus reports how the input side ended, when it ended with a
// problem, and returns the exit status that calls for.
func inputStatus(ui *connectUI, err error) exitCode {
	switch {
	case err == nil, errors.Is(err, errQuit):
		return exitOK
	case errors.Is(err, errWaitTimedOut):
		ui.errorf("%v", err)
		return exitWaitTimedOut
	}
	ui.errorf("%v", err)
	return exitError
}

// closeWait bounds how long a failed send waits for the reader to report
// why the connection closed.
const closeWait = 5 * time.Second

var (
	errQuit         = errors.New("quit")
	errWaitTimedOut = errors.New("timed out waiting for replies")
)

// session is one connection as the input side and the output side see it.
type session struct {
	cfg  *connectConfig
	ui   *connectUI
	conn *wsx.Conn

	replies

	pendingClose
}

// pendingClose is the close the user asked for with /close, sent when the
// input loop ends.
type pendingClose struct {
	mu     sync.Mutex
	code   wsx.StatusCode
	reason string
}

func (p *pendingClose) requestClose(code wsx.StatusCode, reason string) {
	p.mu.Lock()
	p.code, p.reason = code, reason
	p.mu.Unlock()
}

// closeRequest returns the close the user asked for, 1000 by default.
func (p *pendingClose) closeRequest() (wsx.StatusCode, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.code == 0 {
		return wsx.StatusNormalClosure, ""
	}
	return p.code, p.reason
}

func (s *session) ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// readLoop prints every message until the connection ends.
func (s *session) readLoop() error {
	var buf []byte
	for {
		typ, p, err := s.conn.AppendMessage(context.Background(), buf[:0])
		if err != nil {
			return err
		}
		buf = p
		s.ui.message(typ, p)
		s.gotOne()
	}
}

// send sends one message.
func (s *session) send(ctx context.Context, typ wsx.MessageType, p []byte) error {
	if err := s.conn.Write(ctx, typ, p); err != nil {
		return err
	}
	s.sentOne()
	return nil
}

// replies counts messages sent and received, for waiting for replies
// once the input has ended.
type replies struct {
	cfg      *connectConfig
	sent     atomic.Int64
	got      atomic.Int64
	received chan struct{} // signalled after each message received
}

func newReplies(cfg *connectConfig) replies {
	return replies{cfg: cfg, received: make(chan struct{}, 1)}
}

func (r *replies) sentOne() { r.sent.Add(1) }

func (r *replies) gotOne() {
	r.got.Add(1)
	select {
	case r.received <- struct{}{}:
	default:
	}
}

// waitReplies waits after the input ended for -n messages, or one per
// message sent, at most --wait. Only a count given with -n is an error
// when it does not arrive.
func (r *replies) waitReplies(ctx context.Context) error {
	want, explicit := int64(r.cfg.count), r.cfg.count >= 0
	if !explicit {
		want = r.sent.Load()
	}
	timer := time.NewTimer(r.cfg.wait)
	defer timer.Stop()
	for r.got.Load() < want {
		select {
		case <-r.received:
		case <-timer.C:
			if explicit {
				return fmt.Errorf("%w: got %d of %d messages in %v", errWaitTimedOut, r.got.Load(), want, r.cfg.wait)
			}
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// exitFor reports how a connection ended and returns the exit status.
func (s *session) exitFor(err error) error {
	code := exitStatusFor(err)
	s.ui.ended(err)
	if code == exitOK {
		return nil
	}
	return exitCode(code)
}

// exitStatusFor maps the error that ended a connection to an exit status.
func exitStatusFor(err error) int {
	if st := wsx.CloseStatus(err); st >= 0 {
		if slices.Contains([]wsx.StatusCode{wsx.StatusNormalClosure, wsx.StatusGoingAway, wsx.StatusNoStatusRcvd}, st) {
			return exitOK
		}
		return exitCloseCode
	}
	switch {
	case err == nil, errors.Is(err, wsx.ErrClosed):
		return exitOK
	case errors.Is(err, wsx.ErrProtocol), errors.Is(err, wsx.ErrInvalidUTF8), errors.Is(err, wsx.ErrMessageTooBig):
		return exitProtocol
	}
	return exitAbnormal
}
