package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsx-go/wsx"
)

// startServe runs "wsx serve" with args in the background and returns the
// URL it printed and a function that stops it and returns run's error.
func startServe(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), strings.NewReader(""), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil {
		cancel()
		t.Fatalf("no output from wsx serve: %v (%v)", err, <-done)
	}
	url := regexp.MustCompile(`ws://127\.0\.0\.1:[0-9]+/`).FindString(line)
	if url == "" {
		cancel()
		<-done
		t.Fatalf("wsx serve printed %q, want a line with ws://127.0.0.1:PORT/", line)
	}
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("wsx serve did not stop")
			return nil
		}
	}
	return url, stop
}

func TestServeEcho(t *testing.T) {
	for _, compression := range []string{"off", "on", "context-takeover"} {
		t.Run(compression, func(t *testing.T) {
			url, stop := startServe(t, "--compression", compression)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := wsx.Dial(ctx, url, &wsx.DialOptions{CompressionMode: wsx.CompressionContextTakeover})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.Header.Get("Sec-WebSocket-Extensions") != "", compression != "off"; got != want {
				t.Errorf("compression negotiated: %v, want %v (%q)", got, want, resp.Header.Get("Sec-WebSocket-Extensions"))
			}
			msgs := []struct {
				typ wsx.MessageType
				p   string
			}{{wsx.MessageText, "hello"}, {wsx.MessageBinary, "\x00\x01\xff"}, {wsx.MessageText, ""}, {wsx.MessageText, strings.Repeat("wsx ", 100000)}}
			for _, m := range msgs {
				if err := c.Write(ctx, m.typ, []byte(m.p)); err != nil {
					t.Fatal(err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil || typ != m.typ || string(got) != m.p {
					t.Fatalf("echo of %v %d bytes: got %v %d bytes, %v", m.typ, len(m.p), typ, len(got), err)
				}
			}
			// The server answers a close with the same code.
			if err := c.Close(4000, "bye"); err != nil {
				t.Fatal(err)
			}
			if err := stop(); err != nil {
				t.Fatalf("run returned %v, want nil", err)
			}
		})
	}
}

func TestServeShutdownClosesClients(t *testing.T) {
	url, stop := startServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		read <- err
	}()
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if err := <-read; wsx.CloseStatus(err) != wsx.StatusGoingAway {
		t.Fatalf("client read %v, want close 1001", err)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--compression", "maybe"}, "want off, on or context-takeover"},
		{[]string{"serve", "--no-such-flag"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		err := run(context.Background(), tt.args, strings.NewReader(""), io.Discard, &stderr)
		var code exitCode
		if !errors.As(err, &code) || code != 2 {
			t.Errorf("run(%q) = %v, want exit status 2", tt.args, err)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) printed %q, want it to mention %q", tt.args, stderr.String(), tt.want)
		}
	}
}

func TestServeBadAddress(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:notaport"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run succeeded with a bad address")
	}
}
