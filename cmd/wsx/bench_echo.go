package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsx-go/wsx"
)

// echoRun is one run of echo mode.
type echoRun struct {
	cfg      *benchConfig
	payloads *payloads
	typ      wsx.MessageType
	start    time.Time // when all connections were open; the clock of the run
	warmEnd  int64     // nanoseconds after start when measuring begins
	end      atomic.Int64
	stop     chan struct{} // closed when writers are to stop sending
	errs     benchErrors
	mismatch benchErrors
	alive    atomic.Int64
	allDead  chan struct{}
}

// now is the time since the start of the run, in nanoseconds.
func (r *echoRun) now() int64 { return int64(time.Since(r.start)) }

// echoConn is one connection of echo mode: a writer goroutine keeps up to
// cfg.inflight messages unanswered, a reader goroutine checks the echoes.
type echoConn struct {
	run     *echoRun
	id      int
	c       *wsx.Conn
	nc      net.Conn // the connection under c, for writing frames in batches; nil to use c.Write
	rec     *recorder
	window  chan struct{} // one token per message in flight
	sent    []atomic.Int64
	echoed  atomic.Int64 // echoes received, for the progress line
	closing atomic.Bool
	dead    chan struct{} // closed when the connection failed
	once    sync.Once
}

// fail records a connection error, unless the run is over and the
// connection is being closed, and ends the connection.
func (ec *echoConn) fail(op string, err error) {
	ec.once.Do(func() {
		if !ec.closing.Load() {
			ec.run.errs.add("connection %d: %s: %v", ec.id, op, err)
		}
		close(ec.dead)
		ec.c.CloseNow()
		if ec.run.alive.Add(-1) == 0 {
			close(ec.run.allDead)
		}
	})
}

func (ec *echoConn) writeLoop(wg *sync.WaitGroup) {
	defer wg.Done()
	run := ec.run
	ctx := context.Background()
	buf := make([]byte, run.cfg.size)
	var interval, phase int64
	var timer *time.Timer
	if run.cfg.rate > 0 {
		interval = int64(float64(run.cfg.conns) / run.cfg.rate * 1e9)
		phase = interval * int64(ec.id) / int64(run.cfg.conns)
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	}
	if ec.nc != nil && interval == 0 {
		ec.writeBatches()
		return
	}
	p := uint64(len(ec.sent))
	for seq := uint64(0); ; seq++ {
		select {
		case ec.window <- struct{}{}:
		case <-run.stop:
			ec.finish()
			return
		case <-ec.dead:
			return
		}
		var t int64
		if interval > 0 {
			t = phase + int64(seq)*interval
			if wait := t - run.now(); wait > 0 {
				timer.Reset(time.Duration(wait))
				select {
				case <-timer.C:
				case <-run.stop:
					<-ec.window // the message that is not sent
					ec.finish()
					return
				case <-ec.dead:
					return
				}
			}
		}
		run.payloads.fill(buf, seq)
		if interval == 0 {
			t = run.now()
		}
		ec.sent[seq%p].Store(t)
		if err := ec.c.Write(ctx, run.typ, buf); err != nil {
			ec.fail("write", err)
			return
		}
	}
}

// maxBatchBytes bounds the frames writeBatches sends in one write, unless
// a single frame is larger.
const maxBatchBytes = 256 << 10

// writeBatches sends, in one write, every message the window allows at
// that moment, as masked frames it builds itself: after the first burst a
// client with p messages in flight sends as many at once as echoes came
// back since its last write, so a server that answers in batches gets
// batches, and the load generator spends one system call per batch.
func (ec *echoConn) writeBatches() {
	run := ec.run
	size := int(run.cfg.size)
	frameLen := maskedHeaderLen(size) + size
	maxBatch := max(1, min(len(ec.sent), maxBatchBytes/frameLen))
	wbuf := make([]byte, 0, maxBatch*frameLen)
	msg := make([]byte, size)
	op := byte(0x2)
	if run.typ == wsx.MessageText {
		op = 0x1
	}
	p := uint64(len(ec.sent))
	for seq := uint64(0); ; {
		select {
		case ec.window <- struct{}{}:
		case <-run.stop:
			ec.finish()
			return
		case <-ec.dead:
			return
		}
		k := 1
	more:
		for k < maxBatch {
			select {
			case ec.window <- struct{}{}:
				k++
			default:
				break more
			}
		}
		b := wbuf[:0]
		for i := range uint64(k) {
			run.payloads.fill(msg, seq+i)
			b = appendMaskedFrame(b, op, rand.Uint32(), msg)
		}
		t := run.now()
		for i := range uint64(k) {
			ec.sent[(seq+i)%p].Store(t)
		}
		if _, err := ec.nc.Write(b); err != nil {
			ec.fail("write", err)
			return
		}
		seq += uint64(k)
	}
}

// maskedHeaderLen is the size of the header of a masked frame with n
// bytes of payload.
func maskedHeaderLen(n int) int {
	switch {
	case n > 0xFFFF:
		return 14
	case n > 125:
		return 8
	}
	return 6
}

// appendMaskedFrame appends a final frame of opcode op carrying payload,
// masked with key, to b.
func appendMaskedFrame(b []byte, op byte, key uint32, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n > 0xFFFF:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case n > 125:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|byte(n))
	}
	k := [4]byte{byte(key), byte(key >> 8), byte(key >> 16), byte(key >> 24)}
	b = append(b, k[:]...)
	start := len(b)
	b = b[:start+len(payload)]
	unmaskMove(b[start:], payload, k, 0)
	return b
}

// finish waits for the echoes still due and closes the connection.
func (ec *echoConn) finish() {
	timeout := time.NewTimer(ec.run.cfg.timeout)
	defer timeout.Stop()
	for range cap(ec.window) {
		select {
		case ec.window <- struct{}{}:
		case <-ec.dead:
			return
		case <-timeout.C:
			ec.fail("end", fmt.Errorf("echoes still due after %v", ec.run.cfg.timeout))
			return
		}
	}
	ec.closing.Store(true)
	if err := ec.c.Close(wsx.StatusNormalClosure, ""); err != nil {
		ec.fail("close", err)
	}
}

func (ec *echoConn) readLoop(wg *sync.WaitGroup) {
	defer wg.Done()
	run := ec.run
	ctx := context.Background()
	buf := make([]byte, 0, run.cfg.size)
	p := uint64(len(ec.sent))
	for seq := uint64(0); ; seq++ {
		typ, msg, err := ec.c.AppendMessage(ctx, buf[:0])
		if err != nil {
			ec.fail("read", err)
			return
		}
		buf = msg
		now := run.now()
		t := ec.sent[seq%p].Load()
		select {
		case <-ec.window:
		default:
			run.mismatch.add("connection %d: a message arrived when no echo was due", ec.id)
		}
		ec.echoed.Add(1)
		if typ != run.typ {
			run.mismatch.add("connection %d: echo of message %d is a %v message, sent %v", ec.id, seq, typ, run.typ)
		} else if ok, why := run.payloads.check(msg, seq); !ok {
			run.mismatch.add("connection %d: %s", ec.id, why)
		}
		if now >= run.warmEnd && now < run.end.Load() {
			ec.rec.record((now - t) / 1000)
		}
	}
}

// echoResult is the JSON output of echo mode.
type echoResult struct {
	Mode         string         `json:"mode"`
	URL          string         `json:"url"`
	Conns        int            `json:"conns"`
	Size         int64          `json:"size"`
	Type         string         `json:"type"`
	InFlight     int            `json:"inflight"`
	Compression  string         `json:"compression"`
	Rate         float64        `json:"rate"`
	WarmupS      float64        `json:"warmup_s"`
	DurationS    float64        `json:"duration_s"`
	Messages     int64          `json:"messages"`
	MsgsPerS     float64        `json:"msgs_per_s"`
	MBPerS       float64        `json:"mb_per_s"`
	Latency      latencySummary `json:"latency_us"`
	Errors       int64          `json:"errors"`
	VerifyErrors int64          `json:"verify_errors"`
	FirstError   string         `json:"first_error,omitempty"`
}

// runEchoBench runs echo mode and reports whether it failed.
func runEchoBench(ctx context.Context, cfg *benchConfig, out *benchOutput) bool {
	run := &echoRun{
		cfg:      cfg,
		payloads: newPayloads(int(cfg.size), cfg.text),
		typ:      cfg.messageType(),
		stop:     make(chan struct{}),
		allDead:  make(chan struct{}),
	}
	conns, netConns, err := dialAll(ctx, cfg)
	if err != nil {
		fmt.Fprintf(out.stderr, "wsx bench: %v\n", err)
		return true
	}
	// Frames are written in batches unless they need compressing or
	// encrypting, which is wsx's job.
	batches := cfg.compression == wsx.CompressionDisabled && !strings.HasPrefix(cfg.url, "wss:") && !strings.HasPrefix(cfg.url, "https:")
	col := newCollector(len(conns))
	ecs := make([]*echoConn, len(conns))
	for i, c := range conns {
		ecs[i] = &echoConn{run: run, id: i, c: c, rec: col.recs[i], window: make(chan struct{}, cfg.inflight),
			sent: make([]atomic.Int64, cfg.inflight), dead: make(chan struct{})}
		if batches {
			ecs[i].nc = netConns[i]
		}
	}
	run.alive.Store(int64(len(ecs)))
	run.warmEnd = int64(cfg.warmup)
	run.end.Store(int64(cfg.warmup + cfg.duration))
	run.start = time.Now()
	var wg sync.WaitGroup
	for _, ec := range ecs {
		wg.Add(2)
		go ec.readLoop(&wg)
		go ec.writeLoop(&wg)
	}

	echoed := func() int64 {
		var n int64
		for _, ec := range ecs {
			n += ec.echoed.Load()
		}
		return n
	}
	if out.watch(ctx, cfg, col, run.start, "msgs/s", echoed, nil, run.allDead) {
		run.end.Store(min(run.end.Load(), run.now()))
	}
	out.mark("measuring over")
	close(run.stop)
	wg.Wait()
	col.collect()
	out.endProgress()

	measured := time.Duration(run.end.Load() - run.warmEnd)
	res := echoResult{
		Mode:        "echo",
		URL:         cfg.url,
		Conns:       cfg.conns,
		Size:        cfg.size,
		Type:        map[bool]string{true: "text", false: "binary"}[cfg.text],
		InFlight:    cfg.inflight,
		Compression: compressionName(cfg.compression),
		Rate:        cfg.rate,
		WarmupS:     cfg.warmup.Seconds(),
		DurationS:   max(measured, 0).Seconds(),
		Latency:     summarize(col.total),
		Errors:      run.errs.total(),
	}
	res.Messages = res.Latency.Count
	if measured > 0 {
		res.MsgsPerS = float64(res.Messages) / measured.Seconds()
		res.MBPerS = res.MsgsPerS * float64(cfg.size) / 1e6
	}
	res.VerifyErrors = run.mismatch.total()
	res.FirstError = run.mismatch.firstError()
	if res.FirstError == "" {
		res.FirstError = run.errs.firstError()
	}
	failed := res.Errors > 0 || res.VerifyErrors > 0
	run.mismatch.print(out.stderr)
	run.errs.print(out.stderr)
	if out.json {
		out.writeJSON(res)
		return failed
	}
	w := out.stdout
	fmt.Fprintf(w, "echo %s: %d connections, %s %s messages, %d in flight each, compression %s\n",
		cfg.url, cfg.conns, formatSize(cfg.size), res.Type, cfg.inflight, res.Compression)
	if cfg.rate > 0 {
		fmt.Fprintf(w, "  target     %.0f msgs/s\n", cfg.rate)
	}
	fmt.Fprintf(w, "  measured   %.1fs after %v warm-up\n", res.DurationS, cfg.warmup)
	fmt.Fprintf(w, "  messages   %d echoed and checked, %.0f/s\n", res.Messages, res.MsgsPerS)
	fmt.Fprintf(w, "  throughput %.2f MB/s each way\n", res.MBPerS)
	fmt.Fprintf(w, "  latency    %v\n", res.Latency)
	fmt.Fprintf(w, "  errors     %d connection, %d mismatched echoes\n", res.Errors, res.VerifyErrors)
	return failed
}

// dialAll opens cfg.conns connections, cfg.dialConcurrency at a time, and
// fails if any does not open. It returns the connections and the network
// connections under them.
func dialAll(ctx context.Context, cfg *benchConfig) ([]*wsx.Conn, []net.Conn, error) {
	conns := make([]*wsx.Conn, cfg.conns)
	netConns := make([]net.Conn, cfg.conns)
	errs := make([]error, cfg.conns)
	opts := cfg.dialOptions()
	sem := make(chan struct{}, cfg.dialConcurrency)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
			defer cancel()
			o := *opts[i%len(opts)]
			dial := o.NetDialContext
			o.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := dial(ctx, network, addr)
				netConns[i] = nc
				return nc, err
			}
			conns[i], _, errs[i] = wsx.Dial(dctx, cfg.url, &o)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, c := range conns {
				if c != nil {
					c.CloseNow()
				}
			}
			return nil, nil, fmt.Errorf("connection %d: %w", i, err)
		}
	}
	return conns, netConns, nil
}
