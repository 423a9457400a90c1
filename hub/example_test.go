package hub_test

import (
	"context"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsx-go/wsx"
	"github.com/wsx-go/wsx/hub"
)

// A feed of prices: every WebSocket connection to /feed joins the room
// "prices", and whatever is published to the room reaches them all.
func Example() {
	h := hub.New(nil)
	defer h.Close()

	http.HandleFunc("/feed", func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		m := h.Add(c)
		defer m.Close()
		if err := m.Join(r.Context(), "prices"); err != nil {
			return
		}
		// The read loop answers pings and sees the client leave.
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})

	h.Publish(context.Background(), "prices", wsx.MessageText, []byte(`{"EURUSD":1.0842}`))
}

// Several servers share rooms through NATS: each gives its Hub a broker on
// its own connection.
func ExampleNewNATSBroker() {
	nc, err := nats.Connect("nats://127.0.0.1:4222",
		nats.MaxReconnects(-1), // keep trying while NATS is down
		nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return
	}
	defer nc.Close()
	b, err := hub.NewNATSBroker(nc, &hub.NATSOptions{SubjectPrefix: "myapp.hub"})
	if err != nil {
		return
	}
	h := hub.New(&hub.Options{Broker: b})
	defer h.Close()
	// Use h as on one server: what is published on any server reaches
	// the members on all of them.
}
