package flate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"runtime"
	"testing"
)

// cpuMeter reports a benchmark's throughput per CPU second of its thread as
// "cpu-MB/s".
type cpuMeter struct {
	b     *testing.B
	start int64
}

func startCPU(b *testing.B) cpuMeter {
	b.Helper()
	runtime.LockOSThread()
	return cpuMeter{b, int64(threadCPU())}
}

func (m cpuMeter) stop(bytesPerOp int) {
	m.b.Helper()
	cpu := int64(threadCPU()) - m.start
	runtime.UnlockOSThread()
	if cpu > 0 {
		m.b.ReportMetric(float64(bytesPerOp)*float64(m.b.N)/(float64(cpu)/1e9)/1e6, "cpu-MB/s")
	}
}

type benchPayload struct {
	name string
	data []byte
}

func benchPayloads() []benchPayload {
	return []benchPayload{
		{"json-1k", jsonLike(1<<10, 100)},
		{"json-64k", jsonLike(64<<10, 101)},
		{"english-64k", englishLike(64<<10, 102)},
		{"random-16k", randomBytes(16<<10, 103)},
		{"repeated-1m", repeated(1 << 20)},
	}
}

// BenchmarkEncoder compresses one message per iteration, without context
// takeover (so every message starts from an empty window), and reports the
// compressed size as "bytes/msg". The compress/flate rows do the same with
// a Writer reused through Reset and a Flush per message, which is how a
// permessage-deflate implementation on the standard library works.
func BenchmarkEncoder(b *testing.B) {
	for _, p := range benchPayloads() {
		for _, level := range []int{1, 2, 3, 4, 5, 6, 9} {
			b.Run(fmt.Sprintf("%s/wsx-%d", p.name, level), func(b *testing.B) {
				e := NewEncoder(15, level)
				dst := make([]byte, 0, len(p.data)+len(p.data)/8+64)
				var n int
				b.SetBytes(int64(len(p.data)))
				b.ReportAllocs()
				cpu := startCPU(b)
				for b.Loop() {
					n = len(e.Finish(e.Write(dst[:0], p.data), false))
				}
				cpu.stop(len(p.data))
				b.ReportMetric(float64(n), "bytes/msg")
			})
		}
		for _, level := range []int{1, 6} {
			b.Run(fmt.Sprintf("%s/stdlib-%d", p.name, level), func(b *testing.B) {
				var buf bytes.Buffer
				buf.Grow(len(p.data) + len(p.data)/8 + 64)
				w, err := flate.NewWriter(&buf, level)
				if err != nil {
					b.Fatal(err)
				}
				var n int
				b.SetBytes(int64(len(p.data)))
				b.ReportAllocs()
				cpu := startCPU(b)
				for b.Loop() {
					buf.Reset()
					w.Reset(&buf)
					w.Write(p.data)
					w.Flush()
					n = buf.Len() - 4 // without the 00 00 ff ff that RFC 7692 drops
				}
				cpu.stop(len(p.data))
				b.ReportMetric(float64(n), "bytes/msg")
			})
		}
	}
}

// BenchmarkTakeover compresses a stream of 64 distinct small JSON messages
// with context takeover, the common case of a chatty connection, and
// reports the compressed size of the stream. Each iteration starts a new
// stream, so no message is ever compressed against a copy of itself.
func BenchmarkTakeover(b *testing.B) {
	var msgs [][]byte
	total := 0
	for i := range 64 {
		m := jsonLike(200+i*13%600, uint64(1000+i))
		msgs = append(msgs, m)
		total += len(m)
	}
	for _, level := range []int{1, 2, 3, 4, 5, 6, 9} {
		b.Run(fmt.Sprintf("wsx-%d", level), func(b *testing.B) {
			e := NewEncoder(15, level)
			dst := make([]byte, 0, 4096)
			var n int
			b.SetBytes(int64(total))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				e.Reset()
				n = 0
				for _, m := range msgs {
					n += len(e.Finish(e.Write(dst[:0], m), true))
				}
			}
			cpu.stop(total)
			b.ReportMetric(float64(n), "bytes/stream")
		})
	}
	for _, level := range []int{1, 6} {
		b.Run(fmt.Sprintf("stdlib-%d", level), func(b *testing.B) {
			var buf bytes.Buffer
			w, err := flate.NewWriter(&buf, level)
			if err != nil {
				b.Fatal(err)
			}
			var n int
			b.SetBytes(int64(total))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				buf.Reset()
				w.Reset(&buf)
				n = 0
				for _, m := range msgs {
					buf.Reset()
					w.Write(m)
					w.Flush()
					n += buf.Len() - 4
				}
			}
			cpu.stop(total)
			b.ReportMetric(float64(n), "bytes/stream")
		})
	}
}
