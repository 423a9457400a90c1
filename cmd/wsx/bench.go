package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/wsx-go/wsx"
)

// benchConfig holds the flags of "wsx bench".
type benchConfig struct {
	mode            string
	url             string
	conns           int
	size            int64
	inflight        int
	duration        time.Duration
	warmup          time.Duration
	rate            float64
	text            bool
	binary          bool
	compression     wsx.CompressionMode
	json            bool
	sourceAddrs     sourceAddrs
	hold            time.Duration
	dialConcurrency int
	timeout         time.Duration
	maskedEcho      bool
}

const benchUsage = `Usage: wsx bench echo|connect|idle [flags] URL

Measures a WebSocket server from the client side.

Modes:
  echo     -c connections each keep -p messages of -s bytes in flight for -d
           after --warmup. Every echo is checked byte for byte against what
           was sent (a sequence number and content derived from it).
           Reports messages/s, MB/s and latency from send to echo. Over
           ws:// without compression a connection sends all the messages
           it may send at that moment in one write, as a pipelining client
           would; otherwise it sends them one by one with wsx's Write.
  connect  -c workers open a connection (TCP and handshake) and close it with
           1000, over and over, for -d after --warmup. Every 101 response is
           checked as wsx.Dial checks it, and the server has to answer the
           close frame with its own, with status 1000. Reports handshakes/s
           and the latency of opening. Over ws:// without compression the
           handshakes come from a minimal client of wsx bench's own rather
           than wsx.Dial: it spends much less CPU per handshake, so that the
           server rather than the load generator sets the rate.
  idle     opens -c connections, --dial-concurrency at a time, prints
           "idle: N connections open" once done, and holds them for --hold
           or until interrupted.

A progress line (elapsed, msgs/s, p99 of the last second) is shown when
stderr is a terminal; elsewhere stderr gets a line when measuring starts and
one when it ends. --json prints the figures as one JSON object instead of a
summary (idle mode first prints a JSON line when all connections are open).
The exit status is 1 when an echo differs from what was sent, a connection
failed or the server ended one, and 2 for a usage error.

Flags:
`

// benchFlags defines the flags of "wsx bench" on fs.
func benchFlags(fs *flag.FlagSet, cfg *benchConfig) {
	fs.IntVar(&cfg.conns, "c", 0, "connections (echo, idle) or workers (connect), `n` (default 10; idle: 1000)")
	cfg.size = 1 << 10
	fs.Var(sizeFlag{&cfg.size}, "s", "message `size`: 16, 1KiB, 64KiB, 1MiB…")
	fs.IntVar(&cfg.inflight, "p", 1, "messages in flight per connection (`n`)")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "how long to measure, after the warm-up")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "run this long before measuring")
	fs.Float64Var(&cfg.rate, "rate", 0, "target messages/s over all connections (0: as fast as echoes come back);\nlatency then counts from when each message was due")
	fs.BoolVar(&cfg.binary, "binary", false, "send binary messages (the default)")
	fs.BoolVar(&cfg.text, "text", false, "send text messages")
	fs.Var(choiceFlag[wsx.CompressionMode]{&cfg.compression, compressionChoices}, "compression", "permessage-deflate `mode` to offer: off, on or context-takeover")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON")
	fs.Var(&cfg.sourceAddrs, "source-addrs", "local `addresses` to connect from, in turn: a range such as 127.0.0.1-127.0.0.20\nor a comma-separated list; more addresses allow more than ~28k connections")
	fs.DurationVar(&cfg.hold, "hold", 0, "idle: how long to hold the connections open (0: until interrupted)")
	fs.IntVar(&cfg.dialConcurrency, "dial-concurrency", 200, "connections being opened at once, at most (`n`)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "give up on a handshake, or on echoes still due at the end, after this long")
	fs.BoolVar(&cfg.maskedEcho, "masked-echo", false, "accept frames that come back still masked: for a plain TCP echo behind a minimal\nhandshake, the baseline the bench/ comparison measures libraries against")
}

var benchFlagOrder = []string{"c", "s", "p", "d", "warmup", "rate", "binary", "text", "compression", "json",
	"source-addrs", "hold", "dial-concurrency", "timeout", "masked-echo"}

// Long spellings of the one-letter flags.
var benchAliases = map[string]string{"conns": "c", "size": "s", "inflight": "p", "duration": "d"}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg benchConfig
	fs := flag.NewFlagSet("wsx bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	benchFlags(fs, &cfg)
	for long, short := range benchAliases {
		fs.Var(fs.Lookup(short).Value, long, "same as -"+short)
	}
	fs.Usage = func() {}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.mode, args = args[0], args[1:]
	}
	if err := fs.Parse(interspersed(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, benchUsage)
			printFlags(stdout, fs, flagList{order: benchFlagOrder, aliases: benchAliases})
			return nil
		}
		fmt.Fprintln(stderr, `Run "wsx bench -h" for the flags.`)
		return exitCode(2)
	}
	if err := cfg.check(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "wsx bench: %v\n", err)
		fmt.Fprintln(stderr, `Run "wsx bench -h" for the flags.`)
		return exitCode(2)
	}
	out := &benchOutput{stdout: stdout, stderr: stderr, tty: isTerminal(stderr), json: cfg.json}
	var failed bool
	switch cfg.mode {
	case "echo":
		failed = runEchoBench(ctx, &cfg, out)
	case "connect":
		failed = runConnectBench(ctx, &cfg, out)
	case "idle":
		failed = runIdleBench(ctx, &cfg, out)
	}
	if failed {
		return exitCode(1)
	}
	return nil
}

// check validates the configuration and fills in mode-dependent defaults.
func (cfg *benchConfig) check(args []string) error {
	switch cfg.mode {
	case "echo", "connect", "idle":
	case "":
		return errors.New("want a mode: echo, connect or idle")
	default:
		return fmt.Errorf("unknown mode %q: want echo, connect or idle", cfg.mode)
	}
	if len(args) != 1 {
		return errors.New("want exactly one URL")
	}
	cfg.url = args[0]
	u, err := url.Parse(cfg.url)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid URL %q", cfg.url)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return fmt.Errorf("URL %q: want ws:// or wss://", cfg.url)
	}
	if cfg.conns == 0 {
		cfg.conns = 10
		if cfg.mode == "idle" {
			cfg.conns = 1000
		}
	}
	switch {
	case cfg.conns < 1:
		return errors.New("-c must be at least 1")
	case cfg.size < 1:
		return errors.New("-s must be at least 1 byte")
	case cfg.size > 1<<30:
		return errors.New("-s may be 1GiB at most")
	case cfg.inflight < 1:
		return errors.New("-p must be at least 1")
	case cfg.inflight > 1<<16:
		return errors.New("-p may be 65536 at most")
	case cfg.duration <= 0:
		return errors.New("-d must be positive")
	case cfg.warmup < 0 || cfg.hold < 0:
		return errors.New("durations may not be negative")
	case cfg.timeout <= 0:
		return errors.New("--timeout must be positive")
	case cfg.rate < 0:
		return errors.New("--rate may not be negative")
	case cfg.dialConcurrency < 1:
		return errors.New("--dial-concurrency must be at least 1")
	case cfg.text && cfg.binary:
		return errors.New("--text and --binary exclude each other")
	}
	return nil
}

// messageType is the type of the messages echo mode sends.
func (cfg *benchConfig) messageType() wsx.MessageType {
	if cfg.text {
		return wsx.MessageText
	}
	return wsx.MessageBinary
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// benchOutput is where a run reports: the progress line and markers on
// stderr, the summary or JSON on stdout.
type benchOutput struct {
	stdout, stderr io.Writer
	tty            bool // stderr is a terminal: progress line
	json           bool
	progressShown  bool
}

// progress rewrites the progress line in place; it does nothing unless
// stderr is a terminal.
func (o *benchOutput) progress(format string, args ...any) {
	if !o.tty {
		return
	}
	fmt.Fprintf(o.stderr, "\r\x1b[K"+format, args...)
	o.progressShown = true
}

// mark tells a program reading stderr (not a terminal) that a phase began;
// bench/ reads the server's CPU time at these lines.
func (o *benchOutput) mark(format string, args ...any) {
	if o.tty {
		return
	}
	fmt.Fprintf(o.stderr, "wsx bench: "+format+"\n", args...)
}

// endProgress clears the progress line.
func (o *benchOutput) endProgress() {
	if o.progressShown {
		fmt.Fprint(o.stderr, "\r\x1b[K")
		o.progressShown = false
	}
}

// watch runs a load's warm-up and measured window. It marks the start of
// measuring, shows a progress line every second (the rate of count per
// second in unit, the p99 of the last second once measuring, and what
// suffix returns, if not nil), and returns once the window is over, or
// early, saying so, when ctx ends or stop (if not nil) is closed.
func (o *benchOutput) watch(ctx context.Context, cfg *benchConfig, col *collector, start time.Time, unit string, count func() int64, suffix func() string, stop <-chan struct{}) (early bool) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	warmTimer := time.NewTimer(cfg.warmup)
	defer warmTimer.Stop()
	endTimer := time.NewTimer(cfg.warmup + cfg.duration)
	defer endTimer.Stop()
	measuring := false
	last, lastCount := start, int64(0)
	for {
		select {
		case <-warmTimer.C:
			measuring = true
			o.mark("measuring for %v", cfg.duration)
		case t := <-ticker.C:
			iv := col.collect()
			n := count()
			status := "warm-up"
			if measuring {
				status = "p99 " + fmtMicros(iv.ValueAtQuantile(99))
			}
			extra := ""
			if suffix != nil {
				extra = suffix()
			}
			o.progress("%4.0fs  %.0f %s  %s%s", t.Sub(start).Seconds(),
				float64(n-lastCount)/t.Sub(last).Seconds(), unit, status, extra)
			last, lastCount = t, n
		case <-endTimer.C:
			return false
		case <-ctx.Done():
			return true
		case <-stop:
			return true
		}
	}
}

func (o *benchOutput) writeJSON(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(o.stdout, "%s\n", b)
}

// latencySummary is the percentiles of a latency histogram in
// microseconds.
type latencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

func (l latencySummary) String() string {
	if l.Count == 0 {
		return "none measured"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", fmtMicros(l.P50), fmtMicros(l.P90),
		fmtMicros(l.P99), fmtMicros(l.P999), fmtMicros(l.Max))
}

// fmtMicros formats a duration given in microseconds.
func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1000_000:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.2fs", float64(us)/1e6)
}

// benchErrors counts the errors of a run and keeps the first few messages.
// It is safe for concurrent use.
type benchErrors struct {
	mu    sync.Mutex
	count int64
	first []string
}

const keptErrors = 5

func (e *benchErrors) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	if len(e.first) < keptErrors {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *benchErrors) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count
}

func (e *benchErrors) print(w io.Writer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.first {
		fmt.Fprintf(w, "wsx bench: %s\n", m)
	}
	if more := e.count - int64(len(e.first)); more > 0 {
		fmt.Fprintf(w, "wsx bench: … and %d more errors\n", more)
	}
}

func (e *benchErrors) firstError() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.first) == 0 {
		return ""
	}
	return e.first[0]
}
