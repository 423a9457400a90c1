package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsx-go/wsx"
)

// connectResult is the JSON output of connect mode.
type connectResult struct {
	Mode           string         `json:"mode"`
	URL            string         `json:"url"`
	Conns          int            `json:"conns"`
	Compression    string         `json:"compression"`
	WarmupS        float64        `json:"warmup_s"`
	DurationS      float64        `json:"duration_s"`
	Handshakes     int64          `json:"handshakes"`
	HandshakesPerS float64        `json:"handshakes_per_s"`
	Latency        latencySummary `json:"latency_us"`
	Errors         int64          `json:"errors"`
	FirstError     string         `json:"first_error,omitempty"`
}

// connectRun is what connect mode's workers share.
type connectRun struct {
	cfg     *benchConfig
	col     *collector
	errs    benchErrors
	done    atomic.Int64
	start   time.Time
	warmEnd time.Duration
	end     atomic.Int64 // the end of the measured window, from start
	stop    chan struct{}
}

// opened counts a handshake of worker w that began at t0 and completed at
// t1 (from start); its latency counts if it completed in the measured
// window.
func (r *connectRun) opened(w int, t0, t1 time.Duration) {
	if t1 >= r.warmEnd && int64(t1) < r.end.Load() {
		r.col.recs[w].record(int64(t1-t0) / 1000)
	}
	r.done.Add(1)
}

// runConnectBench runs connect mode: workers open and close connections
// as fast as they can. It reports whether the run failed.
func runConnectBench(ctx context.Context, cfg *benchConfig, out *benchOutput) bool {
	r := &connectRun{
		cfg:     cfg,
		col:     newCollector(cfg.conns),
		warmEnd: cfg.warmup,
		stop:    make(chan struct{}),
	}
	r.end.Store(int64(cfg.warmup + cfg.duration))
	// ws:// without compression goes through the raw client, anything
	// else through wsx.Dial.
	plan := planRawConnect(ctx, cfg)
	var wg sync.WaitGroup
	r.start = time.Now()
	if plan == nil || startRawConnect(r, plan, &wg) != nil {
		startDialWorkers(r, &wg)
	}

	errCount := func() string { return fmt.Sprintf("  %d errors", r.errs.total()) }
	if out.watch(ctx, cfg, r.col, r.start, "handshakes/s", r.done.Load, errCount, nil) {
		r.end.Store(min(r.end.Load(), int64(time.Since(r.start))))
	}
	out.mark("measuring over")
	close(r.stop)
	wg.Wait()
	r.col.collect()
	out.endProgress()

	measured := time.Duration(r.end.Load()) - r.warmEnd
	res := connectResult{
		Mode:        "connect",
		URL:         cfg.url,
		Conns:       cfg.conns,
		Compression: compressionName(cfg.compression),
		WarmupS:     cfg.warmup.Seconds(),
		DurationS:   max(measured, 0).Seconds(),
		Latency:     summarize(r.col.total),
		Errors:      r.errs.total(),
		FirstError:  r.errs.firstError(),
	}
	res.Handshakes = res.Latency.Count
	if measured > 0 {
		res.HandshakesPerS = float64(res.Handshakes) / measured.Seconds()
	}
	r.errs.print(out.stderr)
	if out.json {
		out.writeJSON(res)
		return res.Errors > 0
	}
	w := out.stdout
	fmt.Fprintf(w, "connect %s: %d workers, compression %s\n", cfg.url, cfg.conns, res.Compression)
	fmt.Fprintf(w, "  measured   %.1fs after %v warm-up\n", res.DurationS, cfg.warmup)
	fmt.Fprintf(w, "  handshakes %d, %.0f/s\n", res.Handshakes, res.HandshakesPerS)
	fmt.Fprintf(w, "  latency    %v (TCP connect and handshake)\n", res.Latency)
	fmt.Fprintf(w, "  errors     %d\n", res.Errors)
	return res.Errors > 0
}

// startDialWorkers starts r's workers, counted in wg, each opening
// connections with wsx.Dial and closing them with Conn.Close.
func startDialWorkers(r *connectRun, wg *sync.WaitGroup) {
	cfg := r.cfg
	opts := cfg.dialOptions()
	for w := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += cfg.conns {
				select {
				case <-r.stop:
					return
				default:
				}
				dctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
				t0 := time.Since(r.start)
				c, _, err := wsx.Dial(dctx, cfg.url, opts[i%len(opts)])
				t1 := time.Since(r.start)
				cancel()
				if err != nil {
					r.errs.add("worker %d: %v", w, err)
					// Do not spin on a server that is down.
					select {
					case <-r.stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				r.opened(w, t0, t1)
				if err := c.Close(wsx.StatusNormalClosure, ""); err != nil {
					r.errs.add("worker %d: close: %v", w, err)
				} else if ce, _ := c.CloseReceived(); ce.Code != wsx.StatusNormalClosure {
					r.errs.add("worker %d: close: the server's close frame has status %v, want 1000", w, ce.Code)
				}
			}
		}()
	}
}

// idleResult is the JSON output of idle mode.
type idleResult struct {
	Mode        string         `json:"mode"`
	URL         string         `json:"url"`
	Conns       int            `json:"conns"`
	Compression string         `json:"compression"`
	Open        int            `json:"open"`
	Failed      int            `json:"failed"`
	OpenS       float64        `json:"open_s"`
	HeldS       float64        `json:"held_s"`
	ClosedClean int            `json:"closed_clean"`
	Latency     latencySummary `json:"latency_us"`
	Errors      int64          `json:"errors"`
	FirstError  string         `json:"first_error,omitempty"`
}

// idleOpenEvent is the JSON line idle mode prints once every connection
// has been tried.
type idleOpenEvent struct {
	Event  string  `json:"event"`
	Open   int     `json:"open"`
	Failed int     `json:"failed"`
	OpenS  float64 `json:"open_s"`
}

// runIdleBench runs idle mode: open many connections, hold them, close
// them. It reports whether any connection failed.
func runIdleBench(ctx context.Context, cfg *benchConfig, out *benchOutput) bool {
	opts := cfg.dialOptions()
	conns := make([]*wsx.Conn, cfg.conns)
	rec := &recorder{h: newLatencyHistogram()}
	var errs benchErrors
	var opened atomic.Int64
	start := time.Now()
	sem := make(chan struct{}, cfg.dialConcurrency)
	var wg sync.WaitGroup
	progress := time.NewTicker(time.Second)
dialing:
	for i := range conns {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dialing
		case <-progress.C:
			out.progress("opening: %d of %d open, %d failed", opened.Load(), cfg.conns, errs.total())
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break dialing
			}
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
			defer cancel()
			t0 := time.Now()
			c, _, err := wsx.Dial(dctx, cfg.url, opts[i%len(opts)])
			if err != nil {
				errs.add("connection %d: %v", i, err)
				return
			}
			rec.record(time.Since(t0).Microseconds())
			conns[i] = c
			opened.Add(1)
		}()
	}
	wg.Wait()
	progress.Stop()
	openTime := time.Since(start)
	out.endProgress()
	res := idleResult{
		Mode:        "idle",
		URL:         cfg.url,
		Conns:       cfg.conns,
		Compression: compressionName(cfg.compression),
		Open:        int(opened.Load()),
		OpenS:       openTime.Seconds(),
	}
	res.Failed = int(errs.total())
	if out.json {
		out.writeJSON(idleOpenEvent{Event: "open", Open: res.Open, Failed: res.Failed, OpenS: res.OpenS})
	} else {
		fmt.Fprintf(out.stdout, "idle: %d connections open, %d failed, in %.2fs\n", res.Open, res.Failed, res.OpenS)
	}

	held := time.Now()
	if ctx.Err() == nil {
		var timeout <-chan time.Time
		if cfg.hold > 0 {
			t := time.NewTimer(cfg.hold)
			defer t.Stop()
			timeout = t.C
		}
		out.progress("holding %d connections", res.Open)
		select {
		case <-timeout:
		case <-ctx.Done():
		}
		out.endProgress()
	}
	res.HeldS = time.Since(held).Seconds()

	// Close them all, as fast as the server answers: a connection the
	// server dropped while idle does not close cleanly.
	var clean atomic.Int64
	for i, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := c.Close(wsx.StatusNormalClosure, ""); err != nil {
				errs.add("connection %d: close: %v", i, err)
				return
			}
			clean.Add(1)
		}()
	}
	wg.Wait()
	res.ClosedClean = int(clean.Load())
	res.Latency = summarize(rec.h)
	res.Errors = errs.total()
	res.FirstError = errs.firstError()
	errs.print(out.stderr)
	if out.json {
		out.writeJSON(res)
		return res.Errors > 0
	}
	w := out.stdout
	fmt.Fprintf(w, "idle %s: %d connections, compression %s\n", cfg.url, cfg.conns, res.Compression)
	fmt.Fprintf(w, "  opened     %d in %.2fs, %d failed\n", res.Open, res.OpenS, res.Failed)
	fmt.Fprintf(w, "  held       %.1fs\n", res.HeldS)
	fmt.Fprintf(w, "  closed     %d cleanly\n", res.ClosedClean)
	fmt.Fprintf(w, "  latency    %v (TCP connect and handshake)\n", res.Latency)
	fmt.Fprintf(w, "  errors     %d\n", res.Errors)
	return res.Errors > 0
}
