package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// TestServersEcho builds every server and checks that it echoes text and
// binary messages with their type, with and without permessage-deflate.
func TestServersEcho(t *testing.T) {
	bin := t.TempDir()
	r := &runner{cfg: &config{}, bin: bin}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			if err := build(context.Background(), "../..", "./servers/"+s.name, filepath.Join(bin, "server-"+s.name)); err != nil {
				t.Fatal(err)
			}
			modes := []bool{false}
			if s.deflate {
				modes = append(modes, true)
			}
			for _, compress := range modes {
				p, u, err := r.startServer(s, compress)
				if err != nil {
					t.Fatal(err)
				}
				if s.name == "tcp" {
					checkRawEcho(t, u)
				} else {
					checkEcho(t, u, compress)
				}
				p.stop()
			}
		})
	}
}

func checkEcho(t *testing.T, u string, compress bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mode := wsx.CompressionDisabled
	if compress {
		mode = wsx.CompressionNoContextTakeover
	}
	c, resp, err := wsx.Dial(ctx, u, &wsx.DialOptions{CompressionMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if got := strings.Contains(ext, "permessage-deflate"); got != compress {
		t.Errorf("compress %v: Sec-WebSocket-Extensions %q", compress, ext)
	}
	big := make([]byte, 200<<10)
	rand.Read(big)
	msgs := []struct {
		typ wsx.MessageType
		p   []byte
	}{
		{wsx.MessageText, []byte("hello")},
		{wsx.MessageBinary, []byte{0, 1, 0xff}},
		{wsx.MessageText, bytes.Repeat([]byte("echo "), 20000)},
		{wsx.MessageBinary, big},
	}
	for _, m := range msgs {
		if err := c.Write(ctx, m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
			t.Fatalf("compress %v: echo of a %v message of %d bytes: %v message of %d bytes, %v", compress, m.typ, len(m.p), typ, len(got), err)
		}
	}
	if err := c.Close(wsx.StatusNormalClosure, ""); err != nil {
		t.Errorf("compress %v: close: %v", compress, err)
	}
}

// checkRawEcho checks the TCP echo: a 101 answer with the right accept
// key, then every byte back.
func checkRawEcho(t *testing.T, u string) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(u, "ws://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("response %v %v", resp.Status, resp.Header)
	}
	msg := bytes.Repeat([]byte{0x82, 0x80, 1, 2, 3, 4}, 50000)
	go nc.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo differs: %v", err)
	}
}

func TestParseStat(t *testing.T) {
	stat := "4242 (server (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 5 0 100 1000000 200 18446744073709551615"
	got, err := parseStat(stat)
	if err != nil || got != 3.25 {
		t.Errorf("parseStat: %v, %v; want 3.25 s", got, err)
	}
	if _, err := parseStat("4242 (x) S 1 2"); err == nil {
		t.Error("short stat accepted")
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS(strings.NewReader("Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n"))
	if err != nil || got != 1234*1024 {
		t.Errorf("parseRSS: %v, %v", got, err)
	}
	if _, err := parseRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
}

func TestStat(t *testing.T) {
	res := results{}
	for _, v := range []float64{5, 1, 3} {
		res.add("s", "a", sample{cpuPer: v})
	}
	res.add("s", "a", sample{err: "boom"})
	for _, v := range []float64{4, 2} {
		res.add("s", "b", sample{cpuPer: v})
	}
	cpu := func(s sample) float64 { return s.cpuPer }
	if st := res.stat("s", "a", cpu); st.med != 3 || st.lo != 1 || st.hi != 5 || st.n != 3 || st.failed != 1 {
		t.Errorf("odd count: %+v", st)
	}
	if st := res.stat("s", "b", cpu); st.med != 3 || st.n != 2 {
		t.Errorf("even count: %+v", st)
	}
	if got := fmtStat(res.stat("s", "a", cpu), sig); got != "3.00 <sub>1.00–5.00</sub> (1 failed)" {
		t.Errorf("cell %q", got)
	}
}

func TestReportRatios(t *testing.T) {
	res := results{}
	for name, v := range map[string]float64{"tcp": 2, "wsx": 3, "gorilla": 6, "coder": 4} {
		res.add("16B", name, sample{cpuPer: v, rate: 1000 * v})
	}
	scens := scenarios(10, "127.0.0.1")[:1]
	srvs := []server{servers[0], servers[1], servers[3], servers[4]}
	md := report(&config{rounds: 1}, []string{"--quick"}, scens, srvs, res, time.Second)
	for _, want := range []string{
		"| 16 B text, 100 conns | 2.00 | 3.00 | 6.00 | 4.00 | 1.50× | 0.75× (coder) |",
		"| 16 B text, 100 conns | 2000 | 3000 | 6000 | 4000 | 1.50× | 0.50× (gorilla) |",
		"go run ./cmd/compare --quick\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	if err := checkSourceAddrs("127.0.0.1-127.0.0.20,127.0.1.1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"10.0.0.1", "127.0.0.1-192.168.0.1", "localhost"} {
		if checkSourceAddrs(bad) == nil {
			t.Errorf("--source-addrs %q accepted", bad)
		}
	}
	if err := checkURL("ws://127.0.0.1:8080/"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"ws://0.0.0.0:80/", "ws://[::]:80/", "ws://example.com:80/"} {
		if checkURL(bad) == nil {
			t.Errorf("server URL %q accepted", bad)
		}
	}
}
