package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results holds every sample, by scenario and server, in round order.
type results map[string]map[string][]sample

func (r results) add(scen, srv string, s sample) {
	if r[scen] == nil {
		r[scen] = map[string][]sample{}
	}
	r[scen][srv] = append(r[scen][srv], s)
}

// stat is the median and range of one figure over the rounds that
// succeeded.
type stat struct {
	med, lo, hi float64
	n, failed   int
	err         string
}

func (r results) stat(scen, srv string, f func(sample) float64) stat {
	var st stat
	var vals []float64
	for _, s := range r[scen][srv] {
		if s.err != "" {
			st.failed++
			st.err = s.err
			continue
		}
		vals = append(vals, f(s))
	}
	st.n = len(vals)
	if st.n == 0 {
		return st
	}
	slices.Sort(vals)
	st.lo, st.hi = vals[0], vals[len(vals)-1]
	if len(vals)%2 == 1 {
		st.med = vals[len(vals)/2]
	} else {
		st.med = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	return st
}

// sig formats a number with about three significant digits.
func sig(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// metric is one figure: how to read it from a sample, how to print it,
// and whether less is better.
type metric struct {
	value  func(sample) float64
	format func(float64) string
	lower  bool
}

// fmtStat formats a stat with a per-value formatter.
func fmtStat(st stat, format func(float64) string) string {
	if st.n == 0 {
		if st.failed > 0 {
			return "failed"
		}
		return "–"
	}
	s := format(st.med)
	if st.n > 1 {
		s += " <sub>" + format(st.lo) + "–" + format(st.hi) + "</sub>"
	}
	if st.failed > 0 {
		s += fmt.Sprintf(" (%d failed)", st.failed)
	}
	return s
}

// writeTable writes a table of metric m: a row per scenario, a column per
// server, and the ratios of each wsx server to the TCP echo and to the best
// other library.
func writeTable(b *strings.Builder, m metric, scens []scenario, srvs []server, res results) {
	var ours []server
	fmt.Fprintf(b, "| scenario |")
	for _, s := range srvs {
		fmt.Fprintf(b, " %s |", s.title)
		if s.ours {
			ours = append(ours, s)
		}
	}
	for _, o := range ours {
		fmt.Fprintf(b, " %s ÷ TCP echo | %s ÷ best other |", o.title, o.title)
	}
	fmt.Fprintf(b, "\n|---|")
	for range srvs {
		fmt.Fprintf(b, "---:|")
	}
	for range ours {
		fmt.Fprintf(b, "---:|---|")
	}
	fmt.Fprintf(b, "\n")
	for _, sc := range scens {
		fmt.Fprintf(b, "| %s |", sc.title)
		stats := map[string]stat{}
		for _, s := range srvs {
			if !takesPart(sc, s) {
				fmt.Fprintf(b, " n/a |")
				continue
			}
			st := res.stat(sc.name, s.name, m.value)
			stats[s.name] = st
			fmt.Fprintf(b, " %s |", fmtStat(st, m.format))
		}
		ratio := func(a, b stat) string {
			if a.n == 0 || b.n == 0 || b.med == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f×", a.med/b.med)
		}
		best, bestName := stat{}, ""
		for _, s := range srvs {
			st := stats[s.name]
			if s.ours || s.name == "tcp" || st.n == 0 {
				continue
			}
			if bestName == "" || (m.lower && st.med < best.med) || (!m.lower && st.med > best.med) {
				best, bestName = st, s.title
			}
		}
		for _, o := range ours {
			other := ratio(stats[o.name], best)
			if other != "–" {
				other += " (" + bestName + ")"
			}
			fmt.Fprintf(b, " %s | %s |", ratio(stats[o.name], stats["tcp"]), other)
		}
		fmt.Fprintf(b, "\n")
	}
	b.WriteString("\n")
}

// report renders the results as markdown.
func report(cfg *config, args []string, scens []scenario, srvs []server, res results, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	fmt.Fprintf(&b, "Measured on %s with `bench/cmd/compare` (%d round(s), %v measured per run after %v of warm-up; the whole run took %v).\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cfg.rounds, cfg.duration, cfg.warmup, elapsed.Round(time.Second))
	b.WriteString("Each cell is the median over the rounds, with the lowest and highest value in small print. ")
	b.WriteString("The ratio columns compare each wsx server's median with the plain TCP echo's and with the best other library's.\n\n")

	b.WriteString("## Machine\n\n")
	fmt.Fprintf(&b, "- CPU: %s, %d logical cores\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(&b, "- Kernel: Linux %s\n", kernel())
	fmt.Fprintf(&b, "- Go: %s\n", goVersion())
	if cfg.pin {
		b.WriteString("- Each server runs alone on CPU 1 (`taskset -c 1`, so GOMAXPROCS is 1) and the load generator, `wsx bench`, on CPU 0.\n")
	} else {
		b.WriteString("- Servers and the load generator share all CPUs (not pinned).\n")
	}
	b.WriteString("- The load: `wsx bench` (HDR histograms, every echo checked byte for byte) keeps the given number of messages in flight on each connection. ")
	b.WriteString("Without compression it writes all the messages it may send at a moment in one write, so with 8 in flight a server gets several frames per read; ")
	b.WriteString("with compression it sends each with wsx's `Write`.\n")
	b.WriteString("\n## How to reproduce\n\n```sh\ncd bench\ngo run ./cmd/compare")
	if len(args) > 0 {
		b.WriteString(" " + strings.Join(args, " "))
	}
	b.WriteString("\n```\n\n")

	var echo, deflate, connect, idle []scenario
	for _, sc := range scens {
		switch {
		case sc.mode == "echo" && sc.deflate:
			deflate = append(deflate, sc)
		case sc.mode == "echo":
			echo = append(echo, sc)
		case sc.mode == "connect":
			connect = append(connect, sc)
		case sc.mode == "idle":
			idle = append(idle, sc)
		}
	}
	cpu := metric{value: func(s sample) float64 { return s.cpuPer }, format: sig, lower: true}
	rate := metric{value: func(s sample) float64 { return s.rate }, format: func(v float64) string { return fmt.Sprintf("%.0f", v) }}
	p50 := metric{value: func(s sample) float64 { return s.p50 }, format: func(v float64) string { return fmt.Sprintf("%.0f", v) }, lower: true}
	p99 := metric{value: func(s sample) float64 { return s.p99 }, format: func(v float64) string { return fmt.Sprintf("%.0f", v) }, lower: true}

	if len(echo)+len(deflate) > 0 {
		b.WriteString("## Server CPU per million echoed messages\n\n")
		b.WriteString("Seconds of server CPU time (user + system, from `/proc/PID/stat`, read when the measured window starts and ends) ")
		b.WriteString("divided by the messages echoed in that window, times a million. Lower is better. ")
		b.WriteString("This is the figure that does not depend on how fast the load generator is.\n\n")
		writeTable(&b, cpu, append(slices.Clone(echo), deflate...), srvs, res)
		b.WriteString("## Echo throughput (messages/s)\n\n")
		b.WriteString("Messages echoed and checked per second, as `wsx bench` saw them. On two cores this mostly measures the load generator.\n\n")
		writeTable(&b, rate, append(slices.Clone(echo), deflate...), srvs, res)
		b.WriteString("## Latency, median (µs)\n\n")
		b.WriteString("From sending a message to receiving its echo, 50th percentile (HDR histogram).\n\n")
		writeTable(&b, p50, append(slices.Clone(echo), deflate...), srvs, res)
		b.WriteString("## Latency, 99th percentile (µs)\n\n")
		writeTable(&b, p99, append(slices.Clone(echo), deflate...), srvs, res)
	}
	if len(connect) > 0 {
		b.WriteString("## Handshakes\n\n")
		b.WriteString("Opening handshakes per second (TCP connect, HTTP upgrade, then a close handshake with 1000), higher is better:\n\n")
		writeTable(&b, rate, connect, srvs, res)
		b.WriteString("Server CPU per handshake (µs, including accepting and closing the connection), lower is better:\n\n")
		writeTable(&b, cpu, connect, srvs, res)
		b.WriteString("Latency of opening a connection, 99th percentile (µs):\n\n")
		writeTable(&b, p99, connect, srvs, res)
	}
	if len(idle) > 0 {
		b.WriteString("## Memory per idle connection\n\n")
		b.WriteString("Growth of the server's resident memory (VmRSS) from before the connections to one second after the last one opened, ")
		b.WriteString("divided by the connections, in KB (1000 bytes). Lower is better. ")
		fmt.Fprintf(&b, "The connections come from %s.\n\n", cfg.sourceAddrs)
		kb := metric{value: func(s sample) float64 { return s.perConn / 1000 }, format: sig, lower: true}
		writeTable(&b, kb, idle, srvs, res)
	}

	b.WriteString("## The servers\n\n")
	b.WriteString("Each is a small program under `bench/servers`, written the fastest idiomatic way for its library ")
	b.WriteString("and echoing text and binary messages with their type:\n\n")
	b.WriteString("- **TCP echo**: not a WebSocket server. It answers the opening handshake and then writes back whatever it reads, ")
	b.WriteString("frames still masked, through a pooled 64 KiB buffer it reads into only once the socket is readable; ")
	b.WriteString("`wsx bench --masked-echo` unmasks them on the client side. It is the floor for small messages: one read and one write system call per batch of bytes. ")
	b.WriteString("For large ones it is not: it writes back what each read returned, so a 1 MiB message goes back in many pieces, where the libraries write it whole.\n")
	b.WriteString("- **wsx**: a plain listener, `wsx.Upgrade` for the handshake, then a goroutine per connection looping on `AppendMessage` into a reused buffer and `Write`.\n")
	b.WriteString("- **wsx event loop**: a `wsx.EventServer` (epoll loops, one per CPU, no goroutine or buffer per idle connection) writing each message back from `OnMessage`.\n")
	b.WriteString("- **gorilla** (gorilla/websocket v1.5.3): net/http, a write buffer pool, `NextReader` read into a reused buffer, `WriteMessage`. Does not check UTF-8.\n")
	b.WriteString("- **coder** (coder/websocket v1.8.15): net/http, `Reader` read into a reused buffer, `Write`. Does not check UTF-8.\n")
	b.WriteString("- **gws** (lxzan/gws v1.8.9): `gws.NewServer` with its own listener and event handlers, UTF-8 checking on.\n")
	b.WriteString("- **gobwas** (gobwas/ws v1.5.0): a goroutine per connection, zero-copy upgrade, `ws.ReadHeaderBuffer` and `io.ReadFull` straight from the socket (no buffer held while idle), ")
	b.WriteString("header and payload written back in one write; with permessage-deflate, `wsutil` reader and writer with `wsflate`. Does not check UTF-8.\n")
	b.WriteString("- **nbio** (lesismal/nbio v1.6.8): the `nbhttp` engine with epoll event loops and its websocket upgrader, echoing from `OnMessage`.\n\n")
	b.WriteString("Permessage-deflate runs use no context takeover, which every library here supports; the TCP echo does not take part, nor in the handshake runs, since it cannot close a connection after the close frame and leaves that to the client.\n")

	var failures []string
	for _, sc := range scens {
		for _, s := range srvs {
			for i, smp := range res[sc.name][s.name] {
				if smp.err != "" {
					failures = append(failures, fmt.Sprintf("- %s, %s, round %d: %s", sc.name, s.name, i+1, smp.err))
				}
			}
		}
	}
	if len(failures) > 0 {
		b.WriteString("\n## Failed runs\n\n" + strings.Join(failures, "\n") + "\n")
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out)) + " " + runtime.GOOS + "/" + runtime.GOARCH
}
