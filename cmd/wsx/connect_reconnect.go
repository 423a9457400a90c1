package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

// connectReconnecting is "wsx connect --reconnect": the connection is
// replaced whenever it is lost or the server closes it, and input is
// queued meanwhile, so nothing typed is lost.
func connectReconnecting(ctx context.Context, cfg *connectConfig, opts *wsx.DialOptions, ui *connectUI) error {
	ropts := &reconnect.Options{
		DialOptions:    opts,
		ConnectTimeout: cfg.connectTimeout,
		OnEvent:        func(ev reconnect.Event) { reconnectEvent(cfg, ui, ev) },
	}
	if cfg.pingInterval > 0 {
		// The client's own heartbeat: a server that answers no ping
		// for two intervals is replaced.
		o := *opts
		o.PingInterval = 0
		ropts.DialOptions = &o
		ropts.PingInterval = cfg.pingInterval
		ropts.InactivityTimeout = 2 * cfg.pingInterval
	}
	client := reconnect.New(cfg.url, ropts)
	s := &reconnectSession{client: client, replies: newReplies(cfg)}

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for m := range client.Messages() {
			ui.message(m.Type, m.Data)
			s.gotOne()
		}
	}()
	inputDone := make(chan error, 1)
	go func() { inputDone <- ui.input(ctx, s) }()

	var inputErr error
	select {
	case inputErr = <-inputDone:
	case <-ctx.Done():
	}
	code := inputStatus(ui, inputErr)
	closeCode, closeReason := s.closeRequest()
	cctx, cancel := context.WithTimeout(context.Background(), closeWait)
	unsent, err := client.Close(cctx, closeCode, closeReason)
	cancel()
	<-readDone
	if unsent > 0 {
		ui.errorf("%d queued messages were never sent", unsent)
		return exitCode(exitError)
	}
	if err != nil && code == exitOK {
		ui.errorf("close: %v", err)
	}
	if code != exitOK {
		return code
	}
	ui.info("closed: %v", closeCode)
	return nil
}

// reconnectEvent reports the reconnecting client's events: above the
// prompt, or on stderr for scripts.
func reconnectEvent(cfg *connectConfig, ui *connectUI, ev reconnect.Event) {
	report := func(format string, args ...any) {
		if ui.term != nil {
			ui.info(format, args...)
			return
		}
		ui.print(ui.stderr, nil, "wsx connect: "+fmt.Sprintf(format, args...))
	}
	switch ev.Type {
	case reconnect.Connected:
		if cfg.showHeaders && ev.Response != nil {
			ui.printResponse(ev.Response, false)
		}
		why := ""
		if ev.Reason != reconnect.Initial {
			why = "after " + ev.Reason.String()
		}
		var subprotocol, extensions string
		if ev.Response != nil {
			subprotocol = ev.Response.Header.Get("Sec-WebSocket-Protocol")
			extensions = ev.Response.Header.Get("Sec-WebSocket-Extensions")
		}
		if ui.term != nil {
			ui.connected(cfg.url, subprotocol, extensions, why)
		} else if why != "" {
			report("reconnected (%s)", why)
		}
	case reconnect.Disconnected:
		what := ev.Reason.String()
		if ev.Reason == reconnect.ServerClosed {
			what = fmt.Sprintf("closed by server: %v %q", ev.Code, ev.CloseReason)
		} else if ev.Err != nil {
			what += ": " + ev.Err.Error()
		}
		if ev.Reason == reconnect.ByRequest {
			return
		}
		report("disconnected (%s); reconnecting in %v", what, ev.RetryIn.Round(time.Millisecond))
	case reconnect.AttemptFailed:
		report("connection attempt %d failed: %v; retrying in %v", ev.Attempt, ev.Err, ev.RetryIn.Round(time.Millisecond))
		if ev.Response != nil {
			ui.printResponse(ev.Response, true)
		}
	}
}

// reconnectSession is the input side's view of a reconnecting client.
type reconnectSession struct {
	client *reconnect.Client
	replies
	pendingClose
}

func (s *reconnectSession) send(ctx context.Context, typ wsx.MessageType, p []byte) error {
	if err := s.client.Send(ctx, typ, p); err != nil {
		return err
	}
	s.sentOne()
	return nil
}

func (s *reconnectSession) ping(ctx context.Context) error {
	c := s.client.Conn()
	if c == nil {
		return reconnect.ErrNotConnected
	}
	return c.Ping(ctx)
}

// waitReplies first waits for the queue to be written, then for replies,
// all within --wait.
func (s *reconnectSession) waitReplies(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, s.cfg.wait)
	err := s.client.Flush(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: queued messages not sent within %v", errWaitTimedOut, s.cfg.wait)
	}
	return s.replies.waitReplies(ctx)
}
