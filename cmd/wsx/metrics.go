package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/hub"
)

// Handshake outcomes, the values of wsx_handshakes_total's label.
const (
	outcomeAccepted     = "accepted"
	outcomeBadRequest   = "bad_request"   // not a valid WebSocket handshake: 400, 405, 426
	outcomeForbidden    = "forbidden"     // origin not allowed: 403
	outcomeOverCapacity = "over_capacity" // --max-conns reached: 503
	outcomeDraining     = "draining"      // shutting down: 503
	outcomeIncomplete   = "incomplete"    // closed before a whole request arrived (--handshake-timeout)
	outcomeError        = "error"         // the upgrade failed on the server's side
)

// metrics are the Prometheus metrics of "wsx serve", served at /metrics.
type metrics struct {
	reg *prometheus.Registry

	open       prometheus.Gauge
	handshakes *prometheus.CounterVec
	closeSent  *prometheus.CounterVec
	closeRcvd  *prometheus.CounterVec
	latency    prometheus.Histogram
	duration   prometheus.Histogram

	// Indexed by wsx.MessageType, resolved once so that counting a
	// message costs no label lookup.
	msgsIn, msgsOut   [3]prometheus.Counter
	bytesIn, bytesOut [3]prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.open = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "wsx_connections_open",
		Help: "WebSocket connections open now.",
	})
	f(m.open)
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_handshakes_total",
		Help: "Opening handshakes by outcome: accepted, bad_request (400/405/426), forbidden (403, origin), over_capacity (503, --max-conns), draining (503, shutting down), incomplete (the connection closed before sending a whole request, as at --handshake-timeout), error.",
	}, []string{"outcome"})
	f(m.handshakes)
	for _, o := range []string{outcomeAccepted, outcomeBadRequest, outcomeForbidden, outcomeOverCapacity, outcomeDraining, outcomeIncomplete, outcomeError} {
		m.handshakes.WithLabelValues(o)
	}
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_messages_received_total",
		Help: "Messages received, by type.",
	}, []string{"type"})
	msgsOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_messages_sent_total",
		Help: "Messages sent, by type.",
	}, []string{"type"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_received_bytes_total",
		Help: "Message payload bytes received (after decompression), by message type.",
	}, []string{"type"})
	bytesOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_sent_bytes_total",
		Help: "Message payload bytes sent (before compression), by message type.",
	}, []string{"type"})
	f(msgs)
	f(msgsOut)
	f(bytes)
	f(bytesOut)
	for _, typ := range []wsx.MessageType{wsx.MessageText, wsx.MessageBinary} {
		name := typeLabel(typ)
		m.msgsIn[typ] = msgs.WithLabelValues(name)
		m.msgsOut[typ] = msgsOut.WithLabelValues(name)
		m.bytesIn[typ] = bytes.WithLabelValues(name)
		m.bytesOut[typ] = bytesOut.WithLabelValues(name)
	}
	m.closeSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_close_codes_sent_total",
		Help: "Close frames sent, by status code.",
	}, []string{"code"})
	m.closeRcvd = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsx_close_codes_received_total",
		Help: "Close frames received, by status code (1005: a close frame without one; 1006: the connection ended without a close frame).",
	}, []string{"code"})
	f(m.closeSent)
	f(m.closeRcvd)
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsx_echo_latency_seconds",
		Help:    "Time from the start of a message's arrival until its echo was sent.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	f(m.latency)
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsx_connection_duration_seconds",
		Help:    "How long WebSocket connections lasted.",
		Buckets: []float64{.01, .1, 1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
	})
	f(m.duration)
	return m
}

func typeLabel(typ wsx.MessageType) string {
	if typ == wsx.MessageText {
		return "text"
	}
	return "binary"
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// echoed counts one message received and sent back.
func (m *metrics) echoed(typ wsx.MessageType, n int64, took time.Duration) {
	m.msgsIn[typ].Inc()
	m.msgsOut[typ].Inc()
	m.bytesIn[typ].Add(float64(n))
	m.bytesOut[typ].Add(float64(n))
	m.latency.Observe(took.Seconds())
}

// received counts a message that was received but not echoed.
func (m *metrics) received(typ wsx.MessageType, n int64) {
	m.msgsIn[typ].Inc()
	m.bytesIn[typ].Add(float64(n))
}

// sent counts a message the server sent of its own.
func (m *metrics) sent(typ wsx.MessageType, n int64) {
	m.msgsOut[typ].Inc()
	m.bytesOut[typ].Add(float64(n))
}

// closed counts a connection's end: its close frames and how long it
// lasted.
func (m *metrics) closed(c *wsx.Conn, lasted time.Duration) {
	m.open.Dec()
	m.duration.Observe(lasted.Seconds())
	if ce, ok := c.CloseSent(); ok {
		m.closeSent.WithLabelValues(strconv.Itoa(int(ce.Code))).Inc()
	}
	code := wsx.StatusAbnormalClosure
	if ce, ok := c.CloseReceived(); ok {
		code = ce.Code
	}
	m.closeRcvd.WithLabelValues(strconv.Itoa(int(code))).Inc()
}

// registerHub adds the wsx_hub_* metrics of the chat, read from its hub
// when scraped.
func (m *metrics) registerHub(stats func() hub.Stats, brokerUp func() bool) {
	counter := func(name, help string, v func(hub.Stats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) }))
	}
	gauge := func(name, help string, v func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v))
	}
	counter("wsx_hub_published_total", "Chat messages (and presence updates) published on this node.",
		func(s hub.Stats) uint64 { return s.Published })
	counter("wsx_hub_received_total", "Chat messages received from other nodes through the broker.",
		func(s hub.Stats) uint64 { return s.Received })
	counter("wsx_hub_delivered_total", "Messages written to chat connections.",
		func(s hub.Stats) uint64 { return s.Delivered })
	counter("wsx_hub_dropped_total", "Messages dropped because their connection was closed before they were written.",
		func(s hub.Stats) uint64 { return s.Dropped })
	counter("wsx_hub_slow_closed_total", "Chat connections closed with 1013 for a full send queue or a write timeout.",
		func(s hub.Stats) uint64 { return s.SlowClosed })
	counter("wsx_hub_broker_errors_total", "Failed broker operations, such as publishing while NATS is unreachable.",
		func(s hub.Stats) uint64 { return s.BrokerErrors })
	gauge("wsx_hub_members", "Chat connections now.", func() float64 { return float64(stats().Members) })
	gauge("wsx_hub_rooms", "Chat rooms with members on this node now.", func() float64 { return float64(stats().Rooms) })
	gauge("wsx_hub_broker_connected", "1 while the other nodes can be reached (always with --broker memory), 0 otherwise.",
		func() float64 {
			if brokerUp() {
				return 1
			}
			return 0
		})
}
