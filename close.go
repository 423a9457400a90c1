package wsx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 §7.4). Codes 3000–3999 are
// registered with IANA by libraries and frameworks; 4000–4999 are free for
// applications.
type StatusCode int

// Status codes defined by RFC 6455 §7.4.1 and the IANA registry.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	statusReserved                StatusCode = 1004
	StatusNoStatusRcvd            StatusCode = 1005 // never sent; reported when a close frame has no code
	StatusAbnormalClosure         StatusCode = 1006 // never sent
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015 // never sent
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	StatusProtocolError:           "protocol error",
	StatusUnsupportedData:         "unsupported data",
	StatusNoStatusRcvd:            "no status",
	StatusAbnormalClosure:         "abnormal closure",
	StatusInvalidFramePayloadData: "invalid payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	StatusMandatoryExtension:      "mandatory extension",
	StatusInternalError:           "internal error",
	StatusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	StatusBadGateway:              "bad gateway",
	StatusTLSHandshake:            "TLS handshake failure",
}

// String returns the code and its name, such as "1000 (normal closure)".
func (s StatusCode) String() string {
	if n, ok := statusNames[s]; ok {
		return strconv.Itoa(int(s)) + " (" + n + ")"
	}
	return strconv.Itoa(int(s))
}

// validWire reports whether s may appear in a close frame (RFC 6455 §7.4.1
// and §7.4.2): 1000–1003, 1007–1014 and 3000–4999.
func (s StatusCode) validWire() bool {
	switch {
	case s >= 1000 && s <= 1003:
		return true
	case s >= 1007 && s <= 1014:
		return true
	case s >= 3000 && s <= 4999:
		return true
	}
	return false
}

// CloseError is the close frame the peer sent: Read and friends return it
// (wrapped) once the peer has closed the connection. Code is
// StatusNoStatusRcvd when the frame carried no code.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("wsx: closed by peer: status %v", e.Code)
	}
	return fmt.Sprintf("wsx: closed by peer: status %v: %q", e.Code, e.Reason)
}

// CloseStatus returns the status code of the close frame the peer sent, if
// err reports one (see CloseError), and -1 otherwise.
func CloseStatus(err error) StatusCode {
	var ce CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// maxCloseReason is the longest reason that fits a control frame with a
// 2-byte code.
const maxCloseReason = maxControlPayload - 2

// parseClosePayload validates a received close frame payload
// (RFC 6455 §5.5.1, §7.1.5, §7.4).
func parseClosePayload(p []byte) (CloseError, *failure) {
	switch len(p) {
	case 0:
		return CloseError{Code: StatusNoStatusRcvd}, nil
	case 1:
		return CloseError{}, protocolError("close frame with a 1-byte payload")
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validWire() {
		return CloseError{}, protocolError("close frame with invalid status code " + strconv.Itoa(int(code)))
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return CloseError{}, &failure{code: StatusInvalidFramePayloadData, kind: ErrInvalidUTF8, msg: "close reason is not UTF-8"}
	}
	return CloseError{Code: code, Reason: string(reason)}, nil
}

// closeTimeout bounds how long Close waits for the peer's close frame, and
// lingerTimeout how long a failed connection waits for the peer to close
// after wsx sent its close frame.
const (
	closeTimeout  = 5 * time.Second
	lingerTimeout = time.Second
)

// Close performs the closing handshake (RFC 6455 §7): it sends a close
// frame with code and reason, waits up to 5 seconds for the peer's close
// frame, and then closes the TCP connection. Messages that arrive meanwhile
// are discarded unless another goroutine is reading.
//
// code must be 1000–1003, 1007–1014 or 3000–4999 and reason at most 123
// bytes of UTF-8. Close returns nil when the handshake completed, and an
// error when it could not (the connection is closed all the same).
// Calling Close again, or after the peer closed, returns an error
// wrapping ErrClosed.
func (c *Conn) Close(code StatusCode, reason string) error {
	if !code.validWire() {
		return fmt.Errorf("wsx: close: status code %d may not be sent", int(code))
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("wsx: close: reason is %d bytes, the limit is %d", len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("wsx: close: reason: %w", ErrInvalidUTF8)
	}
	if err := c.writeCloseTimeout(code, reason, closeTimeout); err != nil {
		c.closeNet()
		return err
	}
	if c.evented {
		// The event loop reads the peer's close frame.
		time.AfterFunc(closeTimeout, func() { c.closeNet() })
		return nil
	}
	return c.waitCloseFrame()
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// Blocked reads and writes return errors wrapping ErrClosed.
func (c *Conn) CloseNow() error {
	if !c.closeNet() {
		return fmt.Errorf("wsx: close: %w", ErrClosed)
	}
	return nil
}

// waitCloseFrame waits for the peer's close frame after ours was sent: it
// reads frames itself when no other goroutine is reading, or waits for the
// reader to see it.
func (c *Conn) waitCloseFrame() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	switch err := c.readLock.lock(ctx); {
	case err == nil:
		// No one else is reading: read until the close frame.
		defer c.readLock.unlock()
		c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
		for c.closeRcvd.Load() == nil {
			if err := c.discardMessage(); err != nil {
				break
			}
		}
		c.finishClose()
	case errors.Is(err, ErrClosed):
		// Once the reading goroutine sees the close frame, it
		// finishes the close itself: the buffered reader it drains is
		// its own.
	default:
		// Another goroutine is reading: close without touching the
		// reader it owns; its read returns.
		c.closeNet()
	}
	ce := c.closeRcvd.Load()
	if ce == nil {
		return fmt.Errorf("wsx: close: no close frame from peer: %w", ErrClosed)
	}
	return nil
}

// finishClose closes the TCP connection once the closing handshake is done.
// The server closes at once (RFC 6455 §7.1.1); a client first waits
// briefly for the server to close, so that TIME_WAIT lands on the server.
func (c *Conn) finishClose() {
	if c.client && !c.isClosed() {
		c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		c.rd.drain()
	}
	c.closeNet()
}

// fail fails the connection (RFC 6455 §7.1.7) after the peer misbehaved:
// it sends a close frame with the failure's code, stops writing, and closes
// the TCP connection once the peer has closed its side or a short linger
// has passed. Closing without that linger would discard unread input and
// turn the close into a TCP reset that can destroy the close frame before
// the peer reads it.
func (c *Conn) fail(f *failure) error {
	if c.readErr == nil {
		c.readErr = f
	}
	if c.isClosed() {
		return c.readErr
	}
	reason := f.msg
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	if c.writeCloseTimeout(f.code, reason, lingerTimeout) == nil {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		if c.evented {
			// The event loop discards input until the peer closes.
			time.AfterFunc(lingerTimeout, func() { c.closeNet() })
			return c.readErr
		}
		c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		c.rd.drain()
	}
	c.closeNet()
	return c.readErr
}

// abort fails the connection from outside the reading goroutine, for a
// reason of wsx's own (a keepalive timeout): it sends a close frame with
// the failure's code if it can do so at once, and closes the TCP
// connection. Reads then return f.
func (c *Conn) abort(f *failure) {
	c.aborted.CompareAndSwap(nil, f)
	c.writeCloseTimeout(f.code, f.msg, lingerTimeout)
	c.closeNet()
}

// CloseSent returns the close frame this side sent, by Close or because
// wsx failed the connection (such as status 1009 for a message over the
// read limit, or 1011 for a keepalive timeout), and whether one was sent.
func (c *Conn) CloseSent() (CloseError, bool) {
	if ce := c.sentClose.Load(); ce != nil {
		return *ce, true
	}
	return CloseError{}, false
}

// CloseReceived returns the close frame the peer sent, and whether one
// arrived. A close frame without a status code is reported as
// StatusNoStatusRcvd.
func (c *Conn) CloseReceived() (CloseError, bool) {
	if ce := c.closeRcvd.Load(); ce != nil {
		return *ce, true
	}
	return CloseError{}, false
}
