// Package reconnect keeps a WebSocket client connected to one URL: it
// dials with wsx, redials with a backoff when the connection fails, the
// server closes it or the server falls silent, writes queued messages on
// whichever connection is up and delivers received messages on one
// channel.
//
//	c := reconnect.New("wss://example.com/feed", &reconnect.Options{
//		InactivityTimeout: time.Minute,
//		PingInterval:      20 * time.Second,
//		OnConnect: func(ctx context.Context, conn *wsx.Conn) error {
//			return conn.Write(ctx, wsx.MessageText, []byte(`{"subscribe":"prices"}`))
//		},
//		OnEvent: func(ev reconnect.Event) { log.Print(ev.Type, ev.Reason, ev.Err) },
//	})
//	c.Send(ctx, wsx.MessageText, []byte("hello"))
//	for m := range c.Messages() {
//		...
//	}
//
// # Connections and events
//
// Each connection attempt runs Options.Prepare (if set), wsx.Dial and
// Options.OnConnect (if set) within Options.ConnectTimeout. A failed
// attempt is reported as an AttemptFailed event and retried after a delay
// from Options.Backoff. A connection that is up is reported as Connected;
// when it ends, Disconnected tells why (a Reason: Lost, ServerClosed,
// Inactivity, Error or ByRequest), and the next Connected carries the
// same reason. Events go to Options.OnEvent, one at a time and in order.
//
// Inactivity is detected by the Client itself rather than by wsx's
// keepalive: with Options.InactivityTimeout set, a connection on which
// nothing arrived from the server for that long is closed and replaced.
// Received messages count as activity, and so do pongs when
// Options.PingInterval makes the Client ping; without pings, a server
// that sends nothing for InactivityTimeout is reconnected to, which suits
// feeds that are never quiet for long.
//
// # Delivery guarantees
//
// Sent messages wait in a queue in the order Send queued them. One writer
// per connection writes the message at the head of the queue with
// wsx.Conn.Write; the message leaves the queue only when Write returned
// nil. When Write fails, the connection is replaced and the message stays
// at the head, to be written first on the next connection, so the
// server receives queued messages in order, each at most once. In
// detail:
//
// Duplicates: none. wsx.Conn.Write reports an error only for a frame it
// did not hand to the operating system in full: either nothing was written
// (the connection was already closed, a close frame had been sent, or the
// context ended first) or a write to the network connection failed
// halfway, which leaves a truncated frame that the server discards as the
// connection ends. A write that completed is reported as a success even if
// its context ended meanwhile. So a message whose Write failed never
// reached the server's application, and writing it again on the next
// connection cannot duplicate it. This holds for the standard library's
// TCP and TLS connections; a net.Conn of your own
// (DialOptions.NetDialContext) must likewise not report an error for a
// write it carried out in full. The same goes for SendNow: when it
// returns an error, the message was not delivered.
//
// Loss without an error: a Write that returned nil has handed the frame
// to the kernel, not to the server. If the connection dies before the
// server has read it (the server crashes, the network drops, the server
// closes the connection meanwhile), TCP gives the sender no notice, and
// the message is gone although it left the queue; the next messages go
// out on the next connection, so the server sees a gap. This can hit the
// messages written shortly before a connection was lost, up to what the
// socket buffers hold. Where every message matters, add acknowledgements
// to the application protocol: number the messages, have the server
// acknowledge them, keep the unacknowledged ones and send them again
// after reconnecting (OnConnect is the place), and let the server drop
// the numbers it has already seen.
//
// Never delivered, and counted: messages still queued when Close is
// called (Close returns their number), messages dropped by ClearQueue
// (which returns their number), and messages for which Send returned an
// error (they were not queued).
//
// Order: the queue keeps Send order (for concurrent Send calls, the order
// in which they were made), across connections. OnConnect runs before the
// first queued message is written on a connection. SendNow bypasses the
// queue: its message goes out whole between two queued messages, possibly
// ahead of messages queued before it.
//
// Received messages are delivered on Messages in the order each
// connection received them, and the Client drops none: while Messages is
// full it stops reading (which also stops pongs and close frames from
// being seen, so consume promptly; time spent waiting for room does not
// count as inactivity). The exceptions are messages read by OnConnect
// itself, messages that do not fit in Messages once Close has begun, and
// messages the server sends after the Client's own close frame (Reconnect,
// Close) while Messages is full, which wsx discards during the closing
// handshake.
package reconnect
