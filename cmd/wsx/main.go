// Command wsx is the WebSocket toolkit's command-line tool.
//
//	wsx serve [flags]    run an echo server with a browser echo tool
//	wsx connect URL      talk to a WebSocket server from a terminal or a script
//	wsx bench MODE URL   measure a WebSocket server: echo, connect or idle
//
// Run "wsx help" for the list of commands and "wsx COMMAND -h" for the
// flags of each.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one ends the process at once
	// instead of waiting for a graceful shutdown.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if code, ok := err.(exitCode); ok {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "wsx:", err)
		os.Exit(1)
	}
}

// exitCode is an error that only sets the process exit status; whatever
// explains it has been printed already.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `wsx is a WebSocket toolkit.

Usage:
  wsx serve [flags]    run a WebSocket echo server with a browser echo tool
  wsx connect URL      talk to a WebSocket server from the terminal or a script
  wsx bench MODE URL   measure a server: echo, connect or idle connections

Run "wsx COMMAND -h" for a command's flags.
`

// run is the whole program, minus process setup, so tests can call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "connect":
		return runConnect(ctx, args[1:], stdin, stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "wsx: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}
