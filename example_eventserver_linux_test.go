//go:build linux

package wsx_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/wsx-go/wsx"
)

func ExampleEventServer() {
	closed := make(chan struct{})
	srv := &wsx.EventServer{
		OnOpen: func(c *wsx.Conn, r *http.Request) {
			fmt.Println("open", r.URL.Path)
		},
		OnMessage: func(c *wsx.Conn, typ wsx.MessageType, msg []byte) {
			// msg is valid until OnMessage returns: Write sends it
			// before returning, or copy it to keep it.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Write(ctx, typ, msg)
		},
		OnClose: func(c *wsx.Conn, err error) {
			fmt.Println("closed with", wsx.CloseStatus(err))
			close(closed)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- srv.Serve(ctx, ln) }()

	c, _, err := wsx.Dial(ctx, "ws://"+ln.Addr().String()+"/echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Write(ctx, wsx.MessageText, []byte("hello"))
	_, p, err := c.Read(ctx)
	fmt.Printf("%q %v\n", p, err)
	c.Close(wsx.StatusNormalClosure, "")
	<-closed

	stop() // closes the remaining connections with 1001
	<-served
	// Output:
	// open /echo
	// "hello" <nil>
	// closed with 1000 (normal closure)
}
