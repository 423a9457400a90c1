//go:build linux

package interop

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// echoToolReport is what testdata/node/echotool.mjs saw on the echo tool
// page while it used the page like a person would.
type echoToolReport struct {
	DefaultURL string          `json:"default_url"`
	Statuses   []string        `json:"statuses"` // every text of #status, in order
	Protocol   string          `json:"protocol"`
	Extensions string          `json:"extensions"`
	Entries    []echoToolEntry `json:"entries"`
	InvalidHex struct {
		Error       string `json:"error"`
		AriaInvalid string `json:"aria_invalid"`
		SentBefore  int    `json:"sent_before"`
		SentAfter   int    `json:"sent_after"`
	} `json:"invalid_hex"`
	BinaryAsBase64  []string `json:"binary_as_base64"`
	CloseSentCode   int      `json:"close_sent_code"`
	CloseSentReason string   `json:"close_sent_reason"`
	CloseCode       int      `json:"close_code"`
	CloseReason     string   `json:"close_reason"`
	CloseClean      bool     `json:"close_clean"`
	CloseText       string   `json:"close_text"`
	CloseInfo       string   `json:"close_info"`
	TabOrder        []struct {
		ID      string `json:"id"`
		Outline bool   `json:"outline"`
	} `json:"tab_order"`
	Mobile *struct {
		Width            int  `json:"width"`
		ScrollWidth      int  `json:"scroll_width"`
		ClientWidth      int  `json:"client_width"`
		HorizontalScroll bool `json:"horizontal_scroll"`
	} `json:"mobile"`
	ConsoleErrors []string `json:"console_errors"`
	PageErrors    []string `json:"page_errors"`
	CSPViolations []string `json:"csp_violations"`
	Error         string   `json:"error"`
}

// echoToolEntry is one entry of the page's log.
type echoToolEntry struct {
	Dir       string   `json:"dir"` // sent, received, info, error or closed
	Type      string   `json:"type"`
	Size      *int     `json:"size"`
	RTTMS     *float64 `json:"rtt_ms"`
	Text      string   `json:"text"`
	Truncated bool     `json:"truncated"`
}

// TestEchoToolPage uses the page "wsx serve" serves at / in Chromium:
// connect with a subprotocol, send text and binary (typed as hex and as
// base64), try invalid hex, disconnect with a code and reason, and check
// that the page showed all of it, on a desktop and on a phone-sized
// screen, without errors or CSP violations. With WSX_UPDATE_SCREENSHOT=1
// the desktop screenshot replaces docs/echo-tool.png.
func TestEchoToolPage(t *testing.T) {
	needChromium(t)
	srv := startServe(t, buildWSX(t))

	shot := filepath.Join(t.TempDir(), "echo-tool.png")
	r, stderr := runEchoTool(t, srv.httpURL(), shot)
	if r.Error != "" {
		t.Fatalf("echotool.mjs failed: %s\nstderr:\n%s", r.Error, stderr)
	}

	if r.DefaultURL != srv.url {
		t.Errorf("default URL %q, want the server's %q", r.DefaultURL, srv.url)
	}
	if want := []string{"not connected", "connecting", "open", "closing", "closed"}; !slices.Equal(r.Statuses, want) {
		t.Errorf("status showed %q, want %q", r.Statuses, want)
	}
	if r.Protocol != "echo.wsx" {
		t.Errorf("negotiated subprotocol shown as %q, want %q", r.Protocol, "echo.wsx")
	}
	if !strings.Contains(r.Extensions, "permessage-deflate") {
		t.Errorf("negotiated extensions shown as %q, want permessage-deflate", r.Extensions)
	}

	// The messages, in the order they were sent and echoed; text "" is
	// not checked (the 2000-byte message is shown truncated).
	const hexFEFF, hex02FF = "00 01 fe ff", "00 01 02 ff"
	wantMsgs := []struct {
		dir, typ  string
		size      int
		text      string
		truncated bool
	}{
		{"sent", "text", 9, "hello wsx", false},
		{"received", "text", 9, "hello wsx", false},
		{"sent", "text", 2000, "", true},
		{"received", "text", 2000, "", true},
		{"sent", "binary", 4, hexFEFF, false},
		{"received", "binary", 4, hexFEFF, false},
		{"sent", "binary", 4, hex02FF, false},
		{"received", "binary", 4, hex02FF, false},
	}
	var msgs []echoToolEntry
	var errorEntries int
	for _, e := range r.Entries {
		switch e.Dir {
		case "sent", "received":
			msgs = append(msgs, e)
		case "error":
			errorEntries++
		}
	}
	if len(msgs) != len(wantMsgs) {
		t.Fatalf("log shows %d sent and received messages, want %d: %+v", len(msgs), len(wantMsgs), msgs)
	}
	var sentLong string
	for i, w := range wantMsgs {
		m := msgs[i]
		if m.Dir != w.dir || m.Type != w.typ || m.Size == nil || *m.Size != w.size {
			t.Errorf("log message %d: %s %s of %v bytes, want %s %s of %d bytes", i, m.Dir, m.Type, sizeOf(m), w.dir, w.typ, w.size)
		}
		if w.text != "" && m.Text != w.text {
			t.Errorf("log message %d shows %q, want %q", i, m.Text, w.text)
		}
		if m.Truncated != w.truncated {
			t.Errorf("log message %d (%d bytes): truncated %v, want %v", i, w.size, m.Truncated, w.truncated)
		}
		if w.truncated {
			// Both sides show the same start of the message.
			if w.dir == "sent" {
				sentLong = m.Text
			} else if m.Text != sentLong || len(m.Text) == 0 || len(m.Text) >= w.size {
				t.Errorf("log message %d shows %d characters %.40q..., want the first part of the %d sent, as sent: %.40q...",
					i, len(m.Text), m.Text, w.size, sentLong)
			}
		}
		switch {
		case w.dir == "received" && m.RTTMS == nil:
			t.Errorf("log message %d: an echo without a round-trip time", i)
		case w.dir == "received" && *m.RTTMS < 0:
			t.Errorf("log message %d: round-trip time %v ms", i, *m.RTTMS)
		case w.dir == "sent" && m.RTTMS != nil:
			t.Errorf("log message %d: a sent message with a round-trip time", i)
		}
	}
	if want := []string{"AAH+/w==", "AAH+/w==", "AAEC/w==", "AAEC/w=="}; !slices.Equal(r.BinaryAsBase64, want) {
		t.Errorf("binary messages shown as base64: %q, want %q", r.BinaryAsBase64, want)
	}

	// Invalid hex: said so next to the field, and nothing was sent.
	if r.InvalidHex.Error == "" && errorEntries == 0 {
		t.Errorf("invalid hex %q showed no error", "zz")
	}
	if !strings.Contains(r.InvalidHex.Error, "hex") || r.InvalidHex.AriaInvalid != "true" {
		t.Errorf("invalid hex: inline error %q, aria-invalid %q; want an error about hex and aria-invalid=true",
			r.InvalidHex.Error, r.InvalidHex.AriaInvalid)
	}
	if r.InvalidHex.SentAfter != r.InvalidHex.SentBefore {
		t.Errorf("invalid hex: sent messages went from %d to %d, want nothing sent", r.InvalidHex.SentBefore, r.InvalidHex.SentAfter)
	}

	// The page sent 4000 "bye"; wsx answers with the code it received.
	if r.CloseSentCode != 4000 || r.CloseSentReason != "bye" {
		t.Errorf("close entry shows %d %q sent, want 4000 %q", r.CloseSentCode, r.CloseSentReason, "bye")
	}
	if r.CloseCode != 4000 || !r.CloseClean {
		t.Errorf("close entry shows code %d from the server, clean %v; want 4000, clean", r.CloseCode, r.CloseClean)
	}
	for _, s := range []string{r.CloseText, r.CloseInfo} {
		if !strings.Contains(s, "4000") || !strings.Contains(s, "bye") || !strings.Contains(s, "clean") {
			t.Errorf("close shown as %q, want the code 4000, the reason %q and whether it was clean", s, "bye")
		}
	}

	// Every control is reached by Tab, with a visible focus outline.
	tabbed := map[string]bool{}
	for _, f := range r.TabOrder {
		tabbed[f.ID] = true
		if !f.Outline {
			t.Errorf("#%s has no visible focus outline", f.ID)
		}
	}
	// #encoding and #disconnect are disabled before connecting.
	for _, id := range []string{"url", "protocols", "connect", "close-code", "close-reason", "type", "message", "send", "binary-view", "clear", "log"} {
		if !tabbed[id] {
			t.Errorf("Tab never reaches #%s; tab order %+v", id, r.TabOrder)
		}
	}

	if m := r.Mobile; m == nil || m.Width != 390 || m.HorizontalScroll || m.ScrollWidth > m.ClientWidth {
		t.Errorf("phone-sized page (390px) scrolls horizontally or was not checked: %+v", m)
	}
	for _, c := range []struct {
		what string
		list []string
	}{
		{"console errors", r.ConsoleErrors},
		{"uncaught exceptions", r.PageErrors},
		{"CSP violations", r.CSPViolations},
	} {
		if len(c.list) > 0 {
			t.Errorf("%s on the page:\n%s", c.what, strings.Join(c.list, "\n"))
		}
	}

	checkScreenshot(t, shot)
	if os.Getenv("WSX_UPDATE_SCREENSHOT") == "1" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		docs := filepath.Join("..", "..", "docs")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, "echo-tool.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(docs, "echo-tool.png"))
	}
}

// runEchoTool runs echotool.mjs against pageURL and returns its report
// and what it printed on stderr.
func runEchoTool(t *testing.T, pageURL, shot string) (echoToolReport, string) {
	t.Helper()
	p := newProcess("echotool.mjs", nodeDir, "node", "echotool.mjs", pageURL, shot)
	var stdout lockedBuffer
	p.cmd.Stdout = &stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start echotool.mjs: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	// Launching Chromium takes a few seconds; every step waits 10s at most.
	if !p.waitOrKill(2 * time.Minute) {
		t.Fatalf("echotool.mjs still running after 2 minutes; killed\nstdout:\n%s\nstderr:\n%s", stdout.String(), p.stderr.String())
	}
	var r echoToolReport
	out := bytes.TrimSpace([]byte(stdout.String()))
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("echotool.mjs (%v) printed %.500q, not a JSON report: %v\nstderr:\n%s", p.err, out, err, p.stderr.String())
	}
	if p.err != nil && r.Error == "" {
		t.Fatalf("echotool.mjs exited with %v\nstderr:\n%s", p.err, p.stderr.String())
	}
	return r, p.stderr.String()
}

// checkScreenshot checks that the desktop screenshot is a PNG of the
// 1100px-wide window at least as tall as the window.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if cfg.Width != 1100 || cfg.Height < 760 {
		t.Errorf("screenshot is %dx%d, want 1100 wide and at least 760 high", cfg.Width, cfg.Height)
	}
}

func sizeOf(e echoToolEntry) any {
	if e.Size == nil {
		return "no size"
	}
	return *e.Size
}
