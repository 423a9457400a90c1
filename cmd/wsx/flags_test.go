package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"64KiB", 64 << 10, false},
		{"64 KiB", 64 << 10, false},
		{"64kb", 64 << 10, false},
		{"1MiB", 1 << 20, false},
		{"1M", 1 << 20, false},
		{"2GiB", 2 << 30, false},
		{"10B", 10, false},
		{"none", -1, false},
		{"-1", -1, false},
		{"-5", 0, true},
		{"1.5MiB", 0, true},
		{"MiB", 0, true},
		{"lots", 0, true},
		{"99999999999GiB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	for _, n := range []int64{-1, 0, 1000, 1024, 1536, 64 << 10, 32 << 20, 3 << 30} {
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Errorf("formatSize(%d) = %q, which parses as %d, %v", n, formatSize(n), back, err)
		}
	}
}

// TestFlagsFromEnvironment checks that every flag of "wsx serve" can be
// set from its WSX_ variable and that the command line overrides it.
func TestFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{
		"WSX_ADDR":              "127.0.0.1:9999",
		"WSX_TLS_CERT":          "c.pem",
		"WSX_TLS_KEY":           "k.pem",
		"WSX_ORIGIN":            "example.com, *.example.org",
		"WSX_MAX_MESSAGE_SIZE":  "64KiB",
		"WSX_MAX_CONNS":         "7",
		"WSX_IDLE_TIMEOUT":      "1m",
		"WSX_PING_INTERVAL":     "5s",
		"WSX_HANDSHAKE_TIMEOUT": "2s",
		"WSX_SHUTDOWN_TIMEOUT":  "3s",
		"WSX_COMPRESSION":       "context-takeover",
		"WSX_LOG_FORMAT":        "json",
		"WSX_LOG_LEVEL":         "debug",
		"WSX_BROKER":            "nats://127.0.0.1:4222",
	}
	var cfg serveConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	serveFlags(fs, &cfg)
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := env[envName(f.Name)]; !ok {
			t.Errorf("flag --%s has no value in this test's environment (%s)", f.Name, envName(f.Name))
		}
	})
	if err := parseFlags(fs, []string{"--max-conns", "9"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := serveConfig{
		addr:             "127.0.0.1:9999",
		tlsCert:          "c.pem",
		tlsKey:           "k.pem",
		origins:          []string{"example.com", "*.example.org"},
		maxMessageSize:   64 << 10,
		maxConns:         9, // the command line wins
		idleTimeout:      time.Minute,
		pingInterval:     5 * time.Second,
		handshakeTimeout: 2 * time.Second,
		shutdownTimeout:  3 * time.Second,
		compression:      wsx.CompressionContextTakeover,
		logFormat:        "json",
		logLevel:         slog.LevelDebug,
		broker:           "nats://127.0.0.1:4222",
	}
	if got := cfg; strings.Join(got.origins, "|") != strings.Join(want.origins, "|") {
		t.Errorf("origins %q, want %q", got.origins, want.origins)
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config from environment:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--compression", "maybe"}, nil, "want off, on or context-takeover"},
		{[]string{"--log-level", "loud"}, nil, "want debug, info, warn or error"},
		{[]string{"--max-message-size", "big"}, nil, "want a size"},
		{nil, map[string]string{"WSX_MAX_CONNS": "abc"}, `invalid value "abc" for WSX_MAX_CONNS`},
		{nil, map[string]string{"WSX_LOG_FORMAT": "xml"}, "WSX_LOG_FORMAT"},
	}
	for _, tt := range tests {
		var cfg serveConfig
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		serveFlags(fs, &cfg)
		err := parseFlags(fs, tt.args, func(k string) string { return tt.env[k] })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("args %q env %v: error %v, want one mentioning %q", tt.args, tt.env, err, tt.want)
		}
	}
}

func TestServeConfigCheck(t *testing.T) {
	ok := serveConfig{maxConns: 1, handshakeTimeout: time.Second}
	if err := ok.check(); err != nil {
		t.Fatalf("check(%+v) = %v", ok, err)
	}
	for _, mod := range []func(*serveConfig){
		func(c *serveConfig) { c.tlsCert = "c.pem" },
		func(c *serveConfig) { c.tlsKey = "k.pem" },
		func(c *serveConfig) { c.maxConns = 0 },
		func(c *serveConfig) { c.handshakeTimeout = 0 },
		func(c *serveConfig) { c.idleTimeout = -time.Second },
	} {
		c := ok
		mod(&c)
		if c.check() == nil {
			t.Errorf("check(%+v) accepted it", c)
		}
	}
}

// TestServeHelp checks that -h lists every flag with its variable, on
// stdout, and exits 0.
func TestServeHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"serve", "-h"}, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("wsx serve -h: %v", err)
	}
	var cfg serveConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	serveFlags(fs, &cfg)
	fs.VisitAll(func(f *flag.Flag) {
		for _, want := range []string{"--" + f.Name + " ", "[$" + envName(f.Name) + "]"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("wsx serve -h does not mention %q", want)
			}
		}
	})
	for _, endpoint := range []string{"/healthz", "/metrics", "/headers", "/echo"} {
		if !strings.Contains(stdout.String(), endpoint) {
			t.Errorf("wsx serve -h does not mention %s", endpoint)
		}
	}
}

// FuzzParseSize checks that parseSize never panics, accepts only what it
// can represent, and that formatSize's output parses back to the same size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1024", "64KiB", "1 MiB", "2g", "none", "-1", "9223372036854775807", "4611686018427387904", "1.5M", "KiB", " 7 B "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < -1 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Fatalf("parseSize(%q) = %d, formatted %q, parsed back as %d, %v", s, n, formatSize(n), back, err)
		}
	})
}
