//go:build linux

package interop

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runConnect runs "wsx connect" with args and stdin, and returns its
// stdout, stderr and exit status.
func runConnect(t *testing.T, bin, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"connect"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return stdout.String(), stderr.String(), ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), 0
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("wsx connect %q still running after 30s; stderr:\n%s", args, stderr.String())
	}
	panic("unreachable")
}

// TestConnectScriptedServe pipes lines through "wsx connect" to "wsx
// serve": the article's demo, scripted.
func TestConnectScriptedServe(t *testing.T) {
	bin := buildWSX(t)
	srv := startServe(t, bin)
	in := "hello\n{\"n\": 1}\nlast line\n"
	out, errOut, code := runConnect(t, bin, in, srv.url)
	if code != 0 || out != in {
		t.Fatalf("wsx connect: exit %d, stdout %q, want 0 and %q\nstderr: %s", code, out, in, errOut)
	}
	out, errOut, code = runConnect(t, bin, "", "-x", "ping?", "--subprotocol", "chat.v2", "--show-headers", srv.url)
	if code != 0 || out != "ping?\n" || !strings.Contains(errOut, "Sec-Websocket-Protocol: chat.v2") {
		t.Fatalf("wsx connect -x: exit %d, stdout %q\nstderr: %s", code, out, errOut)
	}
	srv.stop(t)
}

// TestConnectNodeServer drives "wsx connect" against a Node ws server that
// answers with three messages, then closes with a status code; wsx connect
// waits for a fourth, so it is the server's close that ends it.
func TestConnectNodeServer(t *testing.T) {
	needNode(t)
	bin := buildWSX(t)
	for _, tc := range []struct {
		name      string
		closeCode int
		wantExit  int
	}{
		{"normal close", 1000, 0},
		{"going away", 1001, 0},
		{"application code", 4001, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, "node ws server", nodeDir, "node", "peer.mjs", "server")
			r := p.next(t, "listen", 30*time.Second)
			url := fmt.Sprintf("ws://127.0.0.1:%d/script", r.Port)

			type result struct {
				out, errOut string
				code        int
			}
			done := make(chan result, 1)
			go func() {
				out, errOut, code := runConnect(t, bin, "", "-x", "one", "-x", "two", "-n", "4", "--wait", "20s", url)
				done <- result{out, errOut, code}
			}()
			p.call(t, request{Op: "accept"})
			p.wantMessage(t, "text", []byte("one"))
			p.wantMessage(t, "text", []byte("two"))
			for _, m := range []string{"reply 1", "reply 2", "reply 3"} {
				p.call(t, request{Op: "send", Type: "text", Parts: [][]byte{[]byte(m)}})
			}
			p.send(t, request{Op: "close", Code: tc.closeCode, Reason: "done"})
			res := <-done
			if res.out != "reply 1\nreply 2\nreply 3\n" {
				t.Errorf("stdout %q, want the three replies", res.out)
			}
			if res.code != tc.wantExit {
				t.Errorf("exit status %d, want %d\nstderr: %s", res.code, tc.wantExit, res.errOut)
			}
			if tc.wantExit != 0 && !strings.Contains(res.errOut, fmt.Sprintf("closed by server: %d", tc.closeCode)) {
				t.Errorf("stderr %q does not report the close code", res.errOut)
			}
		})
	}
}
