// Command gws is the lxzan/gws echo server of the comparison: its own
// listener and event handlers (gws.NewServer), a read loop per connection,
// UTF-8 checked as RFC 6455 asks.
package main

import (
	"github.com/lxzan/gws"

	"github.com/wsx-go/wsx/bench/internal/srv"
)

type handler struct {
	gws.BuiltinEventHandler
}

func (handler) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func main() {
	ln := srv.Listen()
	s := gws.NewServer(handler{}, &gws.ServerOption{
		CheckUtf8Enabled:   true,
		ReadMaxPayloadSize: 64 << 20,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:               srv.Compress(),
			ServerContextTakeover: false,
			ClientContextTakeover: false,
		},
	})
	srv.Fatal(s.RunListener(ln))
}
