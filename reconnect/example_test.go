package reconnect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/reconnect"
)

func Example() {
	// An echo server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	events := make(chan reconnect.Event, 16)
	c := reconnect.New("ws"+strings.TrimPrefix(srv.URL, "http"), &reconnect.Options{
		InactivityTimeout: time.Minute,
		PingInterval:      20 * time.Second,
		OnEvent:           func(ev reconnect.Event) { events <- ev },
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Send queues the message: it is written as soon as a connection is
	// up, and written again on the next one if the connection fails
	// first.
	if err := c.Send(ctx, wsx.MessageText, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	ev := <-events
	fmt.Println(ev.Type, ev.Reason)

	m := <-c.Messages()
	fmt.Printf("%s %q\n", m.Type, m.Data)

	unsent, err := c.Close(ctx, wsx.StatusNormalClosure, "bye")
	fmt.Println(unsent, err)
	ev = <-events
	fmt.Println(ev.Type, ev.Reason)
	// Output:
	// connected initial
	// text "hello"
	// 0 <nil>
	// disconnected by request
}
