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

// runConnectBench runs connect mode: workers open and close connections
// as fast as they can. It reports whether the run failed.
func runConnectBench(ctx context.Context, cfg *benchConfig, out *benchOutput) bool {
	col := newCollector(cfg.conns)
	opts := cfg.dialOptions()
	var errs benchErrors
	var done atomic.Int64
	start := time.Now()
	warmEnd := int64(cfg.warmup)
	var end atomic.Int64
	end.Store(int64(cfg.warmup + cfg.duration))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := col.recs[w]
			for i := w; ; i += cfg.conns {
				select {
				case <-stop:
					return
				default:
				}
				dctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
				t0 := time.Since(start)
				c, _, err := wsx.Dial(dctx, cfg.url, opts[i%len(opts)])
				t1 := time.Since(start)
				cancel()
				if err != nil {
					errs.add("worker %d: %v", w, err)
					// Do not spin on a server that is down.
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				if int64(t1) >= warmEnd && int64(t1) < end.Load() {
					rec.record(int64(t1-t0) / 1000)
				}
				done.Add(1)
				if err := c.Close(wsx.StatusNormalClosure, ""); err != nil {
					errs.add("worker %d: close: %v", w, err)
				}
			}
		}()
	}

	errCount := func() string { return fmt.Sprintf("  %d errors", errs.total()) }
	if out.watch(ctx, cfg, col, start, "handshakes/s", done.Load, errCount, nil) {
		end.Store(min(end.Load(), int64(time.Since(start))))
	}
	out.mark("measuring over")
	close(stop)
	wg.Wait()
	col.collect()
	out.endProgress()

	measured := time.Duration(end.Load() - warmEnd)
	res := connectResult{
		Mode:        "connect",
		URL:         cfg.url,
		Conns:       cfg.conns,
		Compression: compressionName(cfg.compression),
		WarmupS:     cfg.warmup.Seconds(),
		DurationS:   max(measured, 0).Seconds(),
		Latency:     summarize(col.total),
		Errors:      errs.total(),
		FirstError:  errs.firstError(),
	}
	res.Handshakes = res.Latency.Count
	if measured > 0 {
		res.HandshakesPerS = float64(res.Handshakes) / measured.Seconds()
	}
	errs.print(out.stderr)
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
