package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/wsx-go/wsx"
)

// connectUI is the terminal side of "wsx connect": an interactive prompt
// when standard input and output are a terminal, plain lines otherwise.
type connectUI struct {
	cfg    *connectConfig
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// Interactive mode only.
	term    *term.Terminal
	restore func()
	color   bool

	mu sync.Mutex // serializes output
}

func newConnectUI(cfg *connectConfig, stdin io.Reader, stdout, stderr io.Writer) *connectUI {
	return &connectUI{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
}

// interactive reports whether standard input and output are a terminal.
func (ui *connectUI) interactive() bool {
	in, ok1 := ui.stdin.(*os.File)
	out, ok2 := ui.stdout.(*os.File)
	return ok1 && ok2 && len(ui.cfg.execute) == 0 &&
		term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd()))
}

// startTerminal puts the terminal in raw mode and sets up the prompt.
func (ui *connectUI) startTerminal() error {
	in := ui.stdin.(*os.File)
	state, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return err
	}
	ui.restore = func() { term.Restore(int(in.Fd()), state) }
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, ui.stdout}, "> ")
	if w, h, err := term.GetSize(int(in.Fd())); err == nil && w > 0 && h > 0 {
		t.SetSize(w, h)
	}
	t.History = loadHistory(historyPath())
	ui.term = t
	ui.color = !ui.cfg.noColor && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	return nil
}

// close restores the terminal.
func (ui *connectUI) close() {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if ui.restore != nil {
		ui.term.SetPrompt("")
		ui.restore()
		ui.restore = nil
	}
}

// print writes one line (which may hold several) to the terminal above
// the prompt, or to w when not interactive.
func (ui *connectUI) print(w io.Writer, color []byte, line string) {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if ui.term != nil {
		if ui.color && color != nil {
			line = string(color) + line + string(ui.term.Escape.Reset)
		}
		ui.term.Write([]byte(line + "\n"))
		return
	}
	io.WriteString(w, line+"\n")
}

func (ui *connectUI) esc() *term.EscapeCodes {
	if ui.term == nil {
		return &term.EscapeCodes{}
	}
	return ui.term.Escape
}

// info reports an event; scripts do not see it.
func (ui *connectUI) info(format string, args ...any) {
	if ui.term != nil {
		ui.print(nil, ui.esc().Cyan, "* "+fmt.Sprintf(format, args...))
	}
}

// errorf reports a problem: above the prompt, or on stderr.
func (ui *connectUI) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ui.term != nil {
		ui.print(nil, ui.esc().Red, "! "+msg)
		return
	}
	ui.print(ui.stderr, nil, "wsx connect: "+msg)
}

func (ui *connectUI) connected(url, subprotocol, extensions, why string) {
	var details []string
	if subprotocol != "" {
		details = append(details, "subprotocol "+subprotocol)
	}
	if extensions != "" {
		details = append(details, "extensions "+extensions)
	}
	line := "connected to " + url
	if why != "" {
		line = "reconnected to " + url + " (" + why + ")"
	}
	if len(details) > 0 {
		line += ": " + strings.Join(details, "; ")
	}
	ui.info("%s", line)
	if ui.term != nil {
		ui.info("type a message and press Enter to send it; /help lists the commands")
	}
}

// ended reports how the connection ended.
func (ui *connectUI) ended(err error) {
	var what string
	if st := wsx.CloseStatus(err); st >= 0 {
		var ce wsx.CloseError
		errors.As(err, &ce)
		what = "closed by server: " + st.String()
		if ce.Reason != "" {
			what += " " + strconv.Quote(ce.Reason)
		}
	} else {
		what = "connection ended: " + err.Error()
	}
	if exitStatusFor(err) == exitOK {
		if ui.term != nil {
			ui.info("%s", what)
		}
		return
	}
	ui.errorf("%s", what)
}

// message shows a received message.
func (ui *connectUI) message(typ wsx.MessageType, p []byte) {
	var body string
	switch {
	case typ == wsx.MessageBinary:
		body = ui.formatBinary(p)
		if ui.term != nil {
			if ui.cfg.binaryFormat == "hex" {
				body = spacedHex(p)
			}
			body = fmt.Sprintf("[binary, %d bytes] %s", len(p), body)
		}
	case ui.cfg.json && json.Valid(p):
		var b bytes.Buffer
		json.Indent(&b, p, "", "  ")
		body = b.String()
	default:
		body = string(p)
	}
	if ui.cfg.timestamps {
		body = time.Now().Format("15:04:05.000") + " " + body
	}
	if ui.term != nil {
		ui.print(nil, ui.esc().Green, "< "+body)
		return
	}
	ui.print(ui.stdout, nil, body)
}

func (ui *connectUI) formatBinary(p []byte) string {
	if ui.cfg.binaryFormat == "base64" {
		return base64.StdEncoding.EncodeToString(p)
	}
	return hex.EncodeToString(p)
}

// spacedHex writes bytes as hex pairs separated by spaces, easier to read
// than a run of digits.
func spacedHex(p []byte) string {
	var b strings.Builder
	for i, c := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(hex.EncodeToString([]byte{c}))
	}
	return b.String()
}

// printResponse writes the handshake response to stderr; for a refusal,
// with the start of its body.
func (ui *connectUI) printResponse(resp *http.Response, body bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", resp.Proto, resp.Status)
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	if body && resp.Body != nil {
		p, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if len(p) > 0 {
			fmt.Fprintf(&b, "\n%s\n", bytes.TrimRight(p, "\n"))
		}
	}
	out := strings.TrimRight(b.String(), "\n")
	if ui.term != nil {
		ui.print(nil, nil, out)
		return
	}
	ui.print(ui.stderr, nil, out)
}

// sender is what the input side needs of a connection.
type sender interface {
	send(ctx context.Context, typ wsx.MessageType, p []byte) error
	ping(ctx context.Context) error
	waitReplies(ctx context.Context) error
	requestClose(code wsx.StatusCode, reason string)
}

// input reads what the user types or the script feeds, and sends it. It
// returns nil when the input ended (or the user closed), errQuit on /quit.
func (ui *connectUI) input(ctx context.Context, s sender) error {
	if len(ui.cfg.execute) > 0 {
		for _, m := range ui.cfg.execute {
			if err := s.send(ctx, wsx.MessageText, []byte(m)); err != nil {
				return err
			}
		}
		return s.waitReplies(ctx)
	}
	if ui.term == nil {
		sc := bufio.NewScanner(ui.stdin)
		sc.Buffer(make([]byte, 64<<10), int(min(ui.cfg.maxMessageSize, 1<<30)))
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			if err := s.send(ctx, wsx.MessageText, []byte(line)); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		return s.waitReplies(ctx)
	}
	for {
		line, err := ui.term.ReadLine()
		if err != nil {
			if errors.Is(err, term.ErrPasteIndicator) {
				err = nil
			} else {
				return nil // Ctrl-D, Ctrl-C, or input closed
			}
		}
		if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
			if done, err := ui.command(ctx, s, line); done || err != nil {
				return err
			}
			continue
		}
		line = strings.TrimPrefix(line, "/")
		if err := s.send(ctx, wsx.MessageText, []byte(line)); err != nil {
			ui.errorf("send: %v", err)
		}
	}
}

const commandHelp = `commands:
  /ping                 ping the server and show the round-trip time
  /binary HEX           send a binary message, such as /binary 00 01 fe ff
  /close [CODE] [REASON] close with a status code (default 1000) and reason, and quit
  /quit                 close normally (1000) and quit; so do Ctrl-D and Ctrl-C
  /help                 show this
  //text                send "/text"
anything else is sent as a text message; Up and Down recall earlier lines`

// command runs one /command and reports whether the session should end.
func (ui *connectUI) command(ctx context.Context, s sender, line string) (bool, error) {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/help", "/?":
		ui.print(nil, nil, commandHelp)
	case "/quit", "/exit":
		return true, errQuit
	case "/ping":
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := s.ping(pctx)
		cancel()
		if err != nil {
			ui.errorf("ping: %v", err)
		} else {
			ui.info("pong in %v", time.Since(start).Round(time.Microsecond))
		}
	case "/binary":
		p, err := hex.DecodeString(strings.Join(strings.Fields(arg), ""))
		if err != nil {
			ui.errorf("/binary: want hexadecimal bytes, such as 00 01 fe ff")
			break
		}
		if err := s.send(ctx, wsx.MessageBinary, p); err != nil {
			ui.errorf("send: %v", err)
		}
	case "/close":
		code := wsx.StatusNormalClosure
		reason := ""
		if arg != "" {
			codeText, rest, _ := strings.Cut(arg, " ")
			n, err := strconv.Atoi(codeText)
			if err != nil || n < 1000 || n > 4999 {
				ui.errorf("/close: want a status code from 1000 to 4999, such as /close 4000 bye")
				break
			}
			code, reason = wsx.StatusCode(n), strings.TrimSpace(rest)
		}
		s.requestClose(code, reason)
		return true, nil
	default:
		ui.errorf("unknown command %s; /help lists the commands (start with // to send a line beginning with /)", name)
	}
	return false, nil
}

// historyPath is where the prompt's history is kept: the user's state
// directory ($XDG_STATE_HOME, or ~/.local/state) on Unix, the
// configuration directory elsewhere.
func historyPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil && os.PathSeparator == '/' {
			dir = filepath.Join(home, ".local", "state")
		} else if cfg, err := os.UserConfigDir(); err == nil {
			dir = cfg
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "wsx", "history")
}

// maxHistory is how many lines the history keeps.
const maxHistory = 1000

// history is the prompt's line history, kept in a file between sessions.
type history struct {
	path    string
	entries []string // oldest first
}

func loadHistory(path string) *history {
	h := &history{path: path}
	if path == "" {
		return h
	}
	if data, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if line != "" {
				h.entries = append(h.entries, line)
			}
		}
		if len(h.entries) > maxHistory {
			h.entries = h.entries[len(h.entries)-maxHistory:]
			h.save()
		}
	}
	return h
}

// Add records a line, skipping a repeat of the last one, and appends it to
// the file.
func (h *history) Add(line string) {
	if line == "" || strings.ContainsAny(line, "\n\r") || (len(h.entries) > 0 && h.entries[len(h.entries)-1] == line) {
		return
	}
	h.entries = append(h.entries, line)
	if len(h.entries) > 2*maxHistory {
		h.entries = h.entries[len(h.entries)-maxHistory:]
		h.save()
		return
	}
	if h.path == "" {
		return
	}
	os.MkdirAll(filepath.Dir(h.path), 0o700)
	if f, err := os.OpenFile(h.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		f.WriteString(line + "\n")
		f.Close()
	}
}

// Len returns the number of lines.
func (h *history) Len() int { return len(h.entries) }

// At returns a line, 0 being the most recent.
func (h *history) At(i int) string { return h.entries[len(h.entries)-1-i] }

// save rewrites the file with the current entries.
func (h *history) save() {
	if h.path == "" {
		return
	}
	os.MkdirAll(filepath.Dir(h.path), 0o700)
	os.WriteFile(h.path, []byte(strings.Join(h.entries, "\n")+"\n"), 0o600)
}
