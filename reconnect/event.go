package reconnect

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wsx-go/wsx"
)

// EventType tells what an Event reports.
type EventType int

const (
	// Connected reports a connection that is up: dialed, handshaken and
	// prepared by Options.OnConnect. Queued messages go out on it.
	Connected EventType = iota + 1

	// Disconnected reports the end of a connection that was up.
	Disconnected

	// AttemptFailed reports a connection attempt that did not lead to a
	// connection: Options.Prepare failed, the dial or the handshake
	// failed (Event.Response holds the server's refusal, if it
	// answered), Options.OnConnect failed, or ConnectTimeout passed.
	AttemptFailed
)

// String returns "connected", "disconnected" or "attempt failed".
func (t EventType) String() string {
	switch t {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case AttemptFailed:
		return "attempt failed"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Reason tells why a connection ended, and so why the next one was made.
type Reason int

const (
	// Initial is the reason of the first connection a Client makes (and
	// of the attempts before it).
	Initial Reason = iota

	// Lost means reading or writing failed: the connection was reset or
	// closed without a close frame.
	Lost

	// ServerClosed means the server closed the connection with a close
	// frame; Event.Code and Event.CloseReason hold its status code and
	// reason.
	ServerClosed

	// Inactivity means nothing arrived from the server for
	// Options.InactivityTimeout, or wsx's own keepalive gave up
	// (wsx.ErrPongTimeout, or the IdleTimeout of the dial options).
	Inactivity

	// Error means the connection was failed because the server broke
	// the protocol: the error wraps wsx.ErrProtocol, wsx.ErrInvalidUTF8
	// or wsx.ErrMessageTooBig.
	Error

	// ByRequest means the program ended the connection with
	// Client.Reconnect or Client.Close.
	ByRequest
)

// String returns the reason's name in lower case, such as "server closed".
func (r Reason) String() string {
	switch r {
	case Initial:
		return "initial"
	case Lost:
		return "lost"
	case ServerClosed:
		return "server closed"
	case Inactivity:
		return "inactivity"
	case Error:
		return "error"
	case ByRequest:
		return "by request"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Event reports a change in a Client's connection to Options.OnEvent.
type Event struct {
	// Type is what happened.
	Type EventType

	// Reason says why. For Connected and AttemptFailed it is what ended
	// the previous connection (Initial before the first one), and for
	// Disconnected what ended this one.
	Reason Reason

	// Attempt counts connection attempts since the last connection
	// ended (or since New): for Connected, the attempts it took (1 when
	// the first one succeeded); for AttemptFailed, the number of the
	// attempt that failed; for Disconnected, 0, since no attempt
	// towards the next connection has been made yet.
	Attempt int

	// Err is the error behind a Disconnected or AttemptFailed event:
	// the read or write error, the server's wsx.CloseError, the error
	// returned by Dial, Options.Prepare or Options.OnConnect. It is nil
	// for Connected and for Disconnected with reason ByRequest.
	Err error

	// Code and CloseReason are the status code and reason of the
	// server's close frame, for Disconnected with reason ServerClosed.
	Code        wsx.StatusCode
	CloseReason string

	// RetryIn is the delay before the next attempt, for Disconnected
	// and AttemptFailed (0 after Client.Reconnect).
	RetryIn time.Duration

	// Response is the server's answer to the opening handshake: the 101
	// response for Connected, and for AttemptFailed the refusal (with
	// up to 64 KiB of its body) if the server answered with one. It is
	// nil otherwise.
	Response *http.Response
}
