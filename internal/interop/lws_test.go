//go:build linux

package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsx-go/wsx/internal/test/rawpeer"
)

// runLWS runs the libwebsockets test client with args until it exits, at
// most d, and returns its output. Its exit status is always 0, so only the
// output and the frames a tap saw tell how it went.
func runLWS(t *testing.T, d time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, lwsClient, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %v\n%s", lwsClient, strings.Join(args, " "), d, out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", lwsClient, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testServeLWS runs the libwebsockets test client against "wsx serve" at
// serverURL through a tap that records the frames on the wire. The client
// offers permessage-deflate; compressed says whether the server agrees,
// and then every frame is decompressed to check its content.
func testServeLWS(t *testing.T, serverURL string, compressed bool) {
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("echo-invalid-utf8", func(t *testing.T) {
		// --echo sends 12 KiB blocks of random bytes as text frames: wsx
		// must refuse the first with 1007 and echo nothing.
		tp := startTap(t, u.Host)
		out := runLWS(t, 30*time.Second, "ws://"+tp.addr()+"/", "--echo")
		if !strings.Contains(out, "mirror: LWS_CALLBACK_CLIENT_ESTABLISHED") {
			t.Fatalf("the client never connected:\n%s", out)
		}
		if strings.Contains(out, "Everything received") {
			t.Fatalf("the client got its invalid text echoed:\n%s", out)
		}
		tp.close()
		conns := tp.connections()
		if len(conns) != 1 {
			t.Fatalf("%d connections, want 1\n%s", len(conns), out)
		}
		c := conns[0]
		_, cliInf := wantLWSHandshake(t, c, compressed)
		sent, _ := readWire(t, "the client", c.toServer, cliInf)
		if len(sent) == 0 {
			t.Fatalf("the client sent no whole message; its frames: %v", c.toServer)
		}
		if first := sent[0]; first.op != rawpeer.OpText || first.compressed != compressed || utf8.Valid(first.data) {
			t.Fatalf("the client's first message is opcode %#x, compressed %t, valid UTF-8 %t; want a text message, compressed %t, that is not UTF-8",
				first.op, first.compressed, utf8.Valid(first.data), compressed)
		}
		if len(c.toClient) != 1 {
			t.Fatalf("wsx sent %d frames %v, want only a close frame", len(c.toClient), c.toClient)
		}
		if code := closeCode(t, c.toClient[0]); code != 1007 {
			t.Fatalf("wsx closed with %d, want 1007", code)
		}
		// The client answers the close with the same code.
		var echo *rawpeer.Frame
		for i := range c.toServer {
			if c.toServer[i].Opcode == rawpeer.OpClose {
				echo = &c.toServer[i]
				break
			}
		}
		if echo == nil {
			t.Fatalf("the client sent no close frame; it sent %d frames\n%s", len(c.toServer), out)
		}
		if code := closeCode(t, *echo); code != 1007 {
			t.Fatalf("the client's close code is %d, want 1007 echoed", code)
		}
	})

	t.Run("mirror", func(t *testing.T) {
		// Without --echo the client sends tens of thousands of short
		// drawing commands as text on an "lws-mirror-protocol"
		// connection (and opens an idle "dumb-increment-protocol" one);
		// --once makes it exit when the mirror connection closes.
		tp := startTap(t, u.Host)
		out := runLWS(t, 60*time.Second, "ws://"+tp.addr()+"/", "--once")
		if !strings.Contains(out, "closing mirror session") {
			t.Fatalf("the client did not finish its mirror session:\n%s", out)
		}
		if errs := lwsErrors(out); len(errs) > 0 {
			t.Fatalf("the client logged errors %q:\n%s", errs, out)
		}
		tp.close()
		var mirror *tapSnapshot
		conns := tp.connections()
		for i := range conns {
			if strings.Contains(conns[i].request, "lws-mirror-protocol") {
				mirror = &conns[i]
			}
		}
		if mirror == nil {
			t.Fatalf("no lws-mirror-protocol connection among %d", len(conns))
		}
		srvInf, cliInf := wantLWSHandshake(t, *mirror, compressed)
		sent, pending := readWire(t, "the client", mirror.toServer, cliInf)
		if pending != 0 {
			t.Fatalf("the client left a message unfinished (%d frames)", pending)
		}
		echoed, pending := readWire(t, "wsx serve", mirror.toClient, srvInf)
		if pending != 0 {
			t.Fatalf("wsx serve left a message unfinished (%d frames)", pending)
		}
		if len(sent) < 1000 {
			t.Fatalf("the client sent only %d messages", len(sent))
		}
		// The tap keeps reading after the client is gone, so every
		// message wsx echoed is recorded, and wsx echoes every message
		// before it reads the end of the connection.
		if len(echoed) != len(sent) {
			t.Fatalf("wsx echoed %d of %d messages; the client's last frame was %v", len(echoed), len(sent), mirror.toServer[len(mirror.toServer)-1])
		}
		for i, e := range echoed {
			s := sent[i]
			// With compression agreed, wsx serve compresses every
			// message: libwebsockets up to 4.3 stalls on one that
			// is not.
			if e.op != s.op || e.frames != 1 || e.compressed != compressed || !bytes.Equal(e.data, s.data) {
				t.Fatalf("echo %d is opcode %#x in %d frames, compressed %t, %s; want opcode %#x in 1 frame, compressed %t, %s",
					i, e.op, e.frames, e.compressed, preview(e.data), s.op, compressed, preview(s.data))
			}
		}
		for _, f := range mirror.toClient {
			if f.Masked {
				t.Fatalf("wsx serve sent a masked frame %v", f)
			}
		}
		t.Logf("wsx echoed all %d messages; the client ended with %v", len(sent), mirror.toServer[len(mirror.toServer)-1])
		t.Logf("the client: %s", wireSummary(sent))
		t.Logf("wsx serve: %s", wireSummary(echoed))
	})
}

// lwsErrors returns the error lines libwebsockets logged, but for the
// "E: Exiting" it always ends with.
func lwsErrors(out string) []string {
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "CONNECTION_ERROR") || strings.Contains(line, "] E: ") && !strings.HasSuffix(line, "] E: Exiting") {
			errs = append(errs, line)
		}
	}
	return errs
}

// lwsOffer is what the libwebsockets test client offers.
const lwsOffer = "permessage-deflate; client_no_context_takeover"

// wantLWSHandshake checks the libwebsockets client's offer and wsx serve's
// answer on the wire, and returns decompressors for what each side sends:
// nil when compression was declined.
func wantLWSHandshake(t *testing.T, c tapSnapshot, compressed bool) (server, client *msgInflater) {
	t.Helper()
	if !strings.HasPrefix(c.response, "HTTP/1.1 101 ") {
		t.Fatalf("handshake response %q, want 101", c.response)
	}
	if got := headerValue(c.request, "Sec-WebSocket-Extensions"); got != lwsOffer {
		t.Fatalf("the client offered %q, want %q", got, lwsOffer)
	}
	resp := headerValue(c.response, "Sec-WebSocket-Extensions")
	if !compressed {
		if resp != "" {
			t.Fatalf("wsx serve --compression off answered with extensions %q", resp)
		}
		return nil, nil
	}
	ps := wantDeflate(t, "wsx serve sent", resp, serveResponses["on"])
	return ps.inflaters()
}

// dataFrames returns the frames that are not control frames.
func dataFrames(fs []rawpeer.Frame) []rawpeer.Frame {
	var out []rawpeer.Frame
	for _, f := range fs {
		if !rawpeer.IsControl(f.Opcode) {
			out = append(out, f)
		}
	}
	return out
}

// closeCode returns the status code of a close frame, 1005 for none.
func closeCode(t *testing.T, f rawpeer.Frame) int {
	t.Helper()
	if f.Opcode != rawpeer.OpClose {
		t.Fatalf("frame %v is not a close frame", f)
	}
	if len(f.Payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}
