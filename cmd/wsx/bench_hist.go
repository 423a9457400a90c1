package main

import (
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1µs to a minute, to three
// significant digits.
const maxLatencyMicros = 60_000_000

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, maxLatencyMicros, 3)
}

// recorder is the latency histogram of one connection or worker. Its lock
// is taken by that connection for every value and by the collector once a
// second, so it is never contended in practice.
type recorder struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func (r *recorder) record(us int64) {
	us = min(max(us, 0), maxLatencyMicros)
	r.mu.Lock()
	r.h.RecordValue(us)
	r.mu.Unlock()
}

// collector gathers the recorders' histograms: each collect swaps every
// recorder's histogram for an empty one and merges the full one into the
// interval and the total.
type collector struct {
	recs     []*recorder
	spare    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram // values since the last collect
	total    *hdrhistogram.Histogram
}

func newCollector(n int) *collector {
	c := &collector{
		recs:     make([]*recorder, n),
		spare:    newLatencyHistogram(),
		interval: newLatencyHistogram(),
		total:    newLatencyHistogram(),
	}
	for i := range c.recs {
		c.recs[i] = &recorder{h: newLatencyHistogram()}
	}
	return c
}

// collect moves what the recorders hold into the total and returns the
// values recorded since the previous call.
func (c *collector) collect() *hdrhistogram.Histogram {
	c.interval.Reset()
	for _, r := range c.recs {
		r.mu.Lock()
		full := r.h
		r.h = c.spare
		r.mu.Unlock()
		if full.TotalCount() > 0 {
			c.interval.Merge(full)
			full.Reset()
		}
		c.spare = full
	}
	c.total.Merge(c.interval)
	return c.interval
}

func summarize(h *hdrhistogram.Histogram) latencySummary {
	if h.TotalCount() == 0 {
		return latencySummary{}
	}
	return latencySummary{
		Count: h.TotalCount(),
		Mean:  float64(int64(h.Mean()*10)) / 10,
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}
