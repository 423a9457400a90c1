// Command nbio is the lesismal/nbio echo server of the comparison: the
// nbhttp engine (epoll event loops, one per core) and its websocket
// upgrader, echoing from the message callback.
package main

import (
	"net"
	"net/http"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/wsx-go/wsx/bench/internal/srv"
)

func main() {
	addr := srv.Addr()
	up := websocket.NewUpgrader()
	up.EnableCompression(srv.Compress())
	up.KeepaliveTime = 0 // no read deadline on idle connections
	up.OnMessage(func(c *websocket.Conn, typ websocket.MessageType, data []byte) {
		_ = c.WriteMessage(typ, data)
	})
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{addr},
		ReleaseWebsocketPayload: true,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = up.Upgrade(w, r, nil)
		}),
		Listen: func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err == nil {
				srv.Announce(ln.Addr())
			}
			return ln, err
		},
	})
	if err := engine.Start(); err != nil {
		srv.Fatal(err)
	}
	select {}
}
