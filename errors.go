package wsx

import (
	"errors"
	"fmt"
)

// Errors reported by wsx. Test for them with errors.Is: the errors a Conn
// returns wrap them with detail.
var (
	// ErrClosed is returned by operations on a connection that has been
	// closed, locally or by the peer, or whose close handshake has begun
	// (no data is written after a close frame, RFC 6455 §5.5.1).
	ErrClosed = errors.New("wsx: connection closed")

	// ErrProtocol reports that the peer broke RFC 6455 framing rules
	// (the connection was failed with status 1002) or sent compressed
	// data that does not decompress (status 1007).
	ErrProtocol = errors.New("wsx: protocol error")

	// ErrInvalidUTF8 reports a text message or close reason that is not
	// valid UTF-8. The connection was failed with status 1007.
	ErrInvalidUTF8 = errors.New("wsx: invalid UTF-8")

	// ErrMessageTooBig reports a message over the read limit. The
	// connection was failed with status 1009.
	ErrMessageTooBig = errors.New("wsx: message too big")

	// ErrPongTimeout reports that the peer sent nothing, not even the
	// pong to a keepalive ping, within the PongTimeout of the options.
	// The connection was failed with status 1011.
	ErrPongTimeout = errors.New("wsx: keepalive ping timeout")

	// ErrHandshake reports an opening handshake that did not complete:
	// a request Accept refused, or a response Dial did not accept.
	ErrHandshake = errors.New("wsx: handshake failed")
)

// failure is the error of a connection that wsx failed because the peer
// misbehaved: it carries the close code that was sent and wraps the
// matching sentinel.
type failure struct {
	code StatusCode
	kind error
	msg  string
}

func (e *failure) Error() string { return fmt.Sprintf("%v: %s", e.kind, e.msg) }
func (e *failure) Unwrap() error { return e.kind }

func protocolError(msg string) *failure {
	return &failure{code: StatusProtocolError, kind: ErrProtocol, msg: msg}
}
