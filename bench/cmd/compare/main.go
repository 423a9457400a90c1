// Command compare measures the echo servers of bench/servers side by side
// with "wsx bench" and writes the results to docs/benchmarks.md.
//
// It builds wsx (from the root module) and every server, then for each
// scenario runs every server in turn, round after round, each time a fresh
// server process driven by a separate "wsx bench" process. It records the
// server's CPU time (utime+stime from /proc) over the measured window only,
// per million echoed messages or per handshake, the growth of its resident
// memory per idle connection, and the throughput and latency the load
// generator saw. Everything runs on 127.0.0.1.
//
// Run it from the bench directory:
//
//	go run ./cmd/compare            # 3 rounds, 5 s per run (about 20 minutes)
//	go run ./cmd/compare --quick    # 1 short round, to check that all works
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is an echo server under bench/servers.
type server struct {
	name    string
	title   string
	deflate bool // supports permessage-deflate
	ours    bool // a wsx server, compared with the others
}

var servers = []server{
	{"tcp", "TCP echo", false, false},
	{"wsx", "wsx", true, true},
	{"wsxevent", "wsx event loop", true, true},
	{"gorilla", "gorilla", true, false},
	{"coder", "coder", true, false},
	{"gws", "gws", true, false},
	{"gobwas", "gobwas", true, false},
	{"nbio", "nbio", true, false},
}

// scenario is one load shape.
type scenario struct {
	name    string
	title   string
	mode    string // echo, connect or idle
	args    []string
	deflate bool // run with permessage-deflate (and only on servers that have it)
	noTCP   bool // the TCP echo does not take part
}

func scenarios(idle int, sourceAddrs string) []scenario {
	return []scenario{
		{"16B", "16 B text, 100 conns", "echo", []string{"-c", "100", "-s", "16", "-p", "1", "--text"}, false, false},
		{"1KiB-p8", "1 KiB binary, 100 conns, 8 in flight", "echo", []string{"-c", "100", "-s", "1KiB", "-p", "8", "--binary"}, false, false},
		{"64KiB", "64 KiB binary, 10 conns", "echo", []string{"-c", "10", "-s", "64KiB", "-p", "1", "--binary"}, false, false},
		{"1MiB", "1 MiB binary, 4 conns", "echo", []string{"-c", "4", "-s", "1MiB", "-p", "1", "--binary"}, false, false},
		{"deflate-1KiB-p8", "1 KiB text, 100 conns, 8 in flight, deflate", "echo", []string{"-c", "100", "-s", "1KiB", "-p", "8", "--text", "--compression", "on"}, true, true},
		{"deflate-64KiB", "64 KiB text, 10 conns, deflate", "echo", []string{"-c", "10", "-s", "64KiB", "-p", "1", "--text", "--compression", "on"}, true, true},
		// The TCP echo's handshake is no floor: it cannot close the
		// connection after the close frame, so the client has to.
		{"connect", "handshakes, 50 workers", "connect", []string{"-c", "50"}, false, true},
		{"idle", fmt.Sprintf("%d idle connections", idle), "idle", []string{"-c", strconv.Itoa(idle), "--source-addrs", sourceAddrs}, false, false},
	}
}

// config holds the flags.
type config struct {
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	idle        int
	sourceAddrs string
	only        string
	servers     string
	out         string
	pin         bool
	quick       bool
	root        string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds: every server runs every scenario once per round")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time of each echo and connect run")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before each measured window")
	flag.IntVar(&cfg.idle, "idle", 19000, "connections in the idle scenario (the per-process file limit here is 20000)")
	flag.StringVar(&cfg.sourceAddrs, "source-addrs", "127.0.0.1-127.0.0.20", "local addresses the idle connections come from")
	flag.StringVar(&cfg.only, "scenarios", "", "comma-separated scenario names to run (default all)")
	flag.StringVar(&cfg.servers, "servers", "", "comma-separated server names to run (default all)")
	flag.StringVar(&cfg.out, "out", "", "markdown file to write (default ROOT/docs/benchmarks.md)")
	flag.BoolVar(&cfg.pin, "pin", true, "pin each server to CPU 1 and the load generator to CPU 0 with taskset")
	flag.BoolVar(&cfg.quick, "quick", false, "one round of short runs and 2000 idle connections, to check the setup")
	flag.StringVar(&cfg.root, "root", "..", "the wsx repository (the root module)")
	flag.Parse()
	if cfg.quick {
		// Short runs, unless a flag says otherwise.
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]string{"rounds": "1", "duration": "1s", "warmup": "300ms", "idle": "2000"}
		for name, v := range quick {
			if !set[name] {
				flag.Set(name, v)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &cfg, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config, args []string) error {
	if err := checkSourceAddrs(cfg.sourceAddrs); err != nil {
		return err
	}
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "docs", "benchmarks.md")
	}
	if cfg.pin && (runtime.NumCPU() < 2 || !haveTaskset()) {
		fmt.Fprintln(os.Stderr, "compare: fewer than 2 CPUs or no taskset: not pinning")
		cfg.pin = false
	}
	srvs := pick(servers, cfg.servers, func(s server) string { return s.name })
	scens := pick(scenarios(cfg.idle, cfg.sourceAddrs), cfg.only, func(s scenario) string { return s.name })
	if len(srvs) == 0 || len(scens) == 0 {
		return errors.New("no servers or no scenarios selected")
	}

	bin, err := os.MkdirTemp("", "wsx-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	fmt.Fprintln(os.Stderr, "compare: building wsx and the servers")
	if err := build(ctx, root, "./cmd/wsx", filepath.Join(bin, "wsx")); err != nil {
		return err
	}
	for _, s := range srvs {
		if err := build(ctx, ".", "./servers/"+s.name, filepath.Join(bin, "server-"+s.name)); err != nil {
			return err
		}
	}

	r := &runner{cfg: cfg, bin: bin}
	res := results{}
	start := time.Now()
	for _, sc := range scens {
		for round := 1; round <= cfg.rounds; round++ {
			for _, s := range srvs {
				if !takesPart(sc, s) {
					continue
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				smp := r.measure(ctx, sc, s)
				res.add(sc.name, s.name, smp)
				fmt.Fprintf(os.Stderr, "compare: %-16s round %d  %-8s %s\n", sc.name, round, s.name, smp)
			}
		}
	}
	elapsed := time.Since(start)
	md := report(cfg, args, scens, srvs, res, elapsed)
	if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "compare: wrote %s after %v\n", cfg.out, elapsed.Round(time.Second))
	return nil
}

// takesPart reports whether server s runs scenario sc.
func takesPart(sc scenario, s server) bool {
	return (s.deflate || !sc.deflate) && (s.name != "tcp" || !sc.noTCP)
}

// pick returns the items whose names are in the comma-separated list, or
// all of them for an empty list.
func pick[T any](all []T, list string, name func(T) string) []T {
	if list == "" {
		return all
	}
	want := strings.Split(list, ",")
	var out []T
	for _, x := range all {
		if slices.Contains(want, name(x)) {
			out = append(out, x)
		}
	}
	return out
}

// checkSourceAddrs makes sure the idle connections come from loopback
// addresses only.
func checkSourceAddrs(s string) error {
	for _, part := range strings.Split(s, ",") {
		for _, a := range strings.Split(part, "-") {
			ip, err := netip.ParseAddr(strings.TrimSpace(a))
			if err != nil || !ip.IsLoopback() {
				return fmt.Errorf("--source-addrs: %q is not a loopback address", a)
			}
		}
	}
	return nil
}

func haveTaskset() bool {
	_, err := exec.LookPath("taskset")
	return err == nil
}

func build(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// sample is what one run measured.
type sample struct {
	cpuPer    float64 // echo: server CPU seconds per million messages; connect: µs per handshake
	rate      float64 // messages/s or handshakes/s
	p50, p99  float64 // µs
	perConn   float64 // idle: bytes of server RSS per connection
	open      int     // idle: connections open
	err       string
	cpuWindow float64 // server CPU seconds in the measured window
}

func (s sample) String() string {
	switch {
	case s.err != "":
		return "error: " + s.err
	case s.perConn != 0:
		return fmt.Sprintf("%d open, %.2f KB per connection", s.open, s.perConn/1000)
	}
	return fmt.Sprintf("%.0f/s, server CPU %.3fs, %.2f per unit, p50 %.0fµs p99 %.0fµs", s.rate, s.cpuWindow, s.cpuPer, s.p50, s.p99)
}

// runner starts servers and load generators.
type runner struct {
	cfg *config
	bin string
}

// proc is a started process whose output is kept.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	tail []string // last lines of stderr
}

func (p *proc) keep(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > 5 {
		p.tail = p.tail[1:]
	}
}

func (p *proc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, " | ")
}

// stop ends the process (SIGTERM, then SIGKILL) and waits for it.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// command returns a command pinned to cpu when pinning.
func (r *runner) command(cpu string, name string, args ...string) *exec.Cmd {
	if r.cfg.pin {
		return exec.Command("taskset", append([]string{"-c", cpu, name}, args...)...)
	}
	return exec.Command(name, args...)
}

var listenRE = regexp.MustCompile(`listening on (ws://\S+/)`)

// startServer starts server s and returns it with its URL.
func (r *runner) startServer(s server, compress bool) (*proc, string, error) {
	args := []string{"-addr", "127.0.0.1:0"}
	if compress {
		args = append(args, "-compress")
	}
	cmd := r.command("1", filepath.Join(r.bin, "server-"+s.name), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.keep(sc.Text())
		}
	}()
	go func() {
		wg.Wait()
		cmd.Wait()
		close(p.done)
	}()
	select {
	case u := <-urls:
		if err := checkURL(u); err != nil {
			p.stop()
			return nil, "", err
		}
		return p, u, nil
	case <-p.done:
		return nil, "", fmt.Errorf("server %s exited: %s", s.name, p.lastLines())
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, "", fmt.Errorf("server %s did not say where it listens", s.name)
	}
}

// checkURL makes sure a server listens on 127.0.0.1: nothing else is ever
// a target.
func checkURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(pu.Host)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("server listens on %q, not 127.0.0.1", pu.Host)
	}
	return nil
}

// benchJSON is the part of "wsx bench --json" output the report uses.
type benchJSON struct {
	Event          string  `json:"event"`
	Messages       int64   `json:"messages"`
	MsgsPerS       float64 `json:"msgs_per_s"`
	Handshakes     int64   `json:"handshakes"`
	HandshakesPerS float64 `json:"handshakes_per_s"`
	Open           int     `json:"open"`
	Failed         int     `json:"failed"`
	Errors         int64   `json:"errors"`
	VerifyErrors   int64   `json:"verify_errors"`
	FirstError     string  `json:"first_error"`
	Latency        struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
}

// measure runs scenario sc against a fresh server s.
func (r *runner) measure(ctx context.Context, sc scenario, s server) sample {
	srv, u, err := r.startServer(s, sc.deflate)
	if err != nil {
		return sample{err: err.Error()}
	}
	defer srv.stop()
	time.Sleep(300 * time.Millisecond) // let the server settle before the RSS baseline
	pid := srv.cmd.Process.Pid
	args := []string{"bench", sc.mode, "--json"}
	args = append(args, sc.args...)
	if sc.mode != "idle" {
		args = append(args, "-d", r.cfg.duration.String(), "--warmup", r.cfg.warmup.String())
	}
	if s.name == "tcp" {
		args = append(args, "--masked-echo")
	}
	args = append(args, u)
	cmd := r.command("0", filepath.Join(r.bin, "wsx"), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return sample{err: err.Error()}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return sample{err: err.Error()}
	}
	if err := cmd.Start(); err != nil {
		return sample{err: err.Error()}
	}
	gen := &proc{cmd: cmd, done: make(chan struct{})}

	var smp sample
	var cpu0, cpu1 float64
	var cpuErr error
	rss0, rssErr := readRSS(pid)
	var rss1 int64
	var lines []string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "wsx bench: measuring for"):
				cpu0, cpuErr = readCPU(pid)
			case line == "wsx bench: measuring over":
				var err error
				cpu1, err = readCPU(pid)
				cpuErr = errors.Join(cpuErr, err)
			default:
				gen.keep(line)
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			if strings.Contains(line, `"event":"open"`) {
				// All idle connections are open: let the server settle,
				// read its memory, and end the load generator.
				time.Sleep(time.Second)
				var err error
				rss1, err = readRSS(pid)
				rssErr = errors.Join(rssErr, err)
				cmd.Process.Signal(os.Interrupt)
			}
		}
	}()
	go func() {
		wg.Wait()
		cmd.Wait()
		close(gen.done)
	}()
	limit := r.cfg.warmup + r.cfg.duration + 2*time.Minute
	select {
	case <-gen.done:
	case <-ctx.Done():
		gen.stop()
		return sample{err: "interrupted"}
	case <-time.After(limit):
		gen.stop()
		return sample{err: "wsx bench did not finish in " + limit.String()}
	}
	if len(lines) == 0 {
		return sample{err: fmt.Sprintf("wsx bench printed nothing (%v): %s", cmd.ProcessState, gen.lastLines())}
	}
	var res benchJSON
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return sample{err: fmt.Sprintf("wsx bench output: %v", err)}
	}
	if res.Errors > 0 || res.VerifyErrors > 0 || res.Failed > 0 || !cmd.ProcessState.Success() {
		return sample{err: fmt.Sprintf("%d errors, %d mismatched echoes: %s", res.Errors, res.VerifyErrors, res.FirstError)}
	}
	smp.p50, smp.p99 = res.Latency.P50, res.Latency.P99
	switch sc.mode {
	case "echo", "connect":
		if cpuErr != nil {
			return sample{err: cpuErr.Error()}
		}
		smp.cpuWindow = cpu1 - cpu0
		n, rate := res.Messages, res.MsgsPerS
		if sc.mode == "connect" {
			n, rate = res.Handshakes, res.HandshakesPerS
		}
		if n == 0 {
			return sample{err: "nothing measured"}
		}
		smp.rate = rate
		// CPU seconds per million messages, or µs per handshake.
		smp.cpuPer = smp.cpuWindow / float64(n) * 1e6
	case "idle":
		if rssErr != nil {
			return sample{err: rssErr.Error()}
		}
		smp.open = res.Open
		if res.Open == 0 {
			return sample{err: "no connection opened"}
		}
		smp.perConn = float64(rss1-rss0) / float64(res.Open)
	}
	return smp
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// it is 100 on Linux whatever the kernel's HZ.
const clockTicks = 100

// readCPU returns the CPU seconds (user and system, all threads) process
// pid has used.
func readCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime from the text of /proc/PID/stat.
func parseStat(s string) (float64, error) {
	// The command name, in parentheses, may contain spaces: fields are
	// counted from the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	return float64(ut+st) / clockTicks, nil
}

// readRSS returns the resident memory of process pid in bytes.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseRSS(f)
}

func parseRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %v", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}
