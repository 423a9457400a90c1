// Package wsx implements the WebSocket protocol (RFC 6455): a server side
// that upgrades requests from any net/http handler (Accept), a client side
// (Dial) over ws://, wss:// and HTTP proxies, and one connection type, Conn,
// for both.
//
// wsx is strict on the wire. A peer that breaks the protocol gets a close
// frame with the status code RFC 6455 assigns (1002 for framing errors,
// 1007 for invalid UTF-8, 1009 for messages over the read limit) and the
// connection ends; the error returned to the program wraps ErrProtocol,
// ErrInvalidUTF8 or ErrMessageTooBig. A peer that closes normally is
// reported with a CloseError carrying its status code and reason.
//
// A Conn reads whole messages (Read, AppendMessage) or streams them
// (Reader); it writes whole messages (Write) or streams them as fragmented
// messages (Writer). Every call that may wait takes a context.Context.
// Writes are safe from many goroutines; reads are for one goroutine at a
// time, and that goroutine also answers pings and close frames.
//
// An idle connection holds no read or write buffer: buffers come from
// pools while data moves. A read loop built on AppendMessage and Write
// allocates nothing per message.
//
// # Performance
//
// When a peer has several messages in flight, the reads that bring them
// in are each answered by one write system call for the whole batch:
// while the reading goroutine has another whole frame buffered, the
// frames written meanwhile are collected and go out together before the
// reader waits for the network, or after at most a millisecond.
//
// A message sent to many connections is best made a PreparedMessage: it is
// framed and compressed once, not once per connection.
//
// An HTTP handler that calls Accept and keeps running holds net/http's
// buffers for the connection (about 10 KB) as long as it runs. A server
// with many mostly idle connections does better to serve each connection
// in a goroutine of its own and return from the handler:
//
//	func handler(w http.ResponseWriter, r *http.Request) {
//		c, err := wsx.Accept(w, r, nil)
//		if err != nil {
//			return
//		}
//		go serve(c) // r.Context() ends when the handler returns
//	}
//
// For hundreds of thousands of mostly idle connections, EventServer serves
// them from a few epoll event loops (Linux) instead of a goroutine each:
// an idle connection then costs its Conn and little else, and messages
// arrive through a callback while the rest of the Conn API is unchanged.
package wsx
