package wsx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wsx-go/wsx"
)

// exampleEcho is a WebSocket handler that sends every message back to the
// client, reusing one buffer, until the connection ends.
func exampleEcho(w http.ResponseWriter, r *http.Request) {
	c, err := wsx.Accept(w, r, nil)
	if err != nil {
		return // Accept has written the HTTP error
	}
	defer c.CloseNow()
	ctx := context.Background()
	var buf []byte
	for {
		typ, p, err := c.AppendMessage(ctx, buf[:0])
		if err != nil {
			return
		}
		buf = p
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}

// exampleURL turns an httptest server URL into a ws:// URL.
func exampleURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func ExampleAccept() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{Subprotocols: []string{"echo.v1"}})
		if err != nil {
			log.Print(err)
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				// A CloseError when the client closed; anything
				// else when the connection failed.
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	})

	srv := httptest.NewServer(handler)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, exampleURL(srv), &wsx.DialOptions{Subprotocols: []string{"echo.v1"}})
	if err != nil {
		log.Fatal(err)
	}
	c.Write(ctx, wsx.MessageText, []byte("hello"))
	typ, p, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %q via %s\n", typ, p, c.Subprotocol())
	c.Close(wsx.StatusNormalClosure, "")
	// Output: text "hello" via echo.v1
}

func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(exampleEcho))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := wsx.Dial(ctx, exampleURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)

	if err := c.Write(ctx, wsx.MessageBinary, []byte{1, 2, 3}); err != nil {
		log.Fatal(err)
	}
	typ, p, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, p)

	// Close sends a close frame and waits for the server's.
	if err := c.Close(wsx.StatusNormalClosure, "done"); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 101 Switching Protocols
	// binary [1 2 3]
}

func ExampleConn_Writer() {
	srv := httptest.NewServer(http.HandlerFunc(exampleEcho))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, exampleURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()

	// Stream one message of unknown length: each Write may send a
	// frame, and Close sends the last one.
	w, err := c.Writer(ctx, wsx.MessageText)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// Read it back as a stream too.
	typ, r, err := c.Reader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s message:\n%s", typ, b)
	c.Close(wsx.StatusNormalClosure, "")
	// Output:
	// text message:
	// line 0
	// line 1
	// line 2
}

func ExampleConn_Ping() {
	srv := httptest.NewServer(http.HandlerFunc(exampleEcho))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, exampleURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}

	// The pong arrives through whoever reads the connection, so keep a
	// read going while pinging.
	readDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				readDone <- err
				return
			}
		}
	}()

	if err := c.Ping(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("pong received")

	c.Close(wsx.StatusNormalClosure, "")
	fmt.Println("reader stopped with status", wsx.CloseStatus(<-readDone))
	// Output:
	// pong received
	// reader stopped with status 1000 (normal closure)
}

func ExampleCloseStatus() {
	// A server that refuses to talk: it closes every connection at once
	// with an application-defined status (4000-4999).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(4001, "go away")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsx.Dial(ctx, exampleURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()

	_, _, err = c.Read(ctx)
	switch status := wsx.CloseStatus(err); {
	case status == 4001:
		var ce wsx.CloseError
		errors.As(err, &ce)
		fmt.Printf("closed by server: %d %q\n", int(ce.Code), ce.Reason)
	case status == -1:
		fmt.Println("connection failed:", err)
	}
	fmt.Println(wsx.CloseStatus(io.EOF))
	// Output:
	// closed by server: 4001 "go away"
	// -1
}

// A server that pings clients silent for a while and drops those that stop
// answering, and closes connections that carry no messages.
func ExampleAcceptOptions_keepalive() {
	errc := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsx.Accept(w, r, &wsx.AcceptOptions{
			PingInterval: 20 * time.Millisecond, // in production: tens of seconds
			IdleTimeout:  100 * time.Millisecond,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				errc <- err
				return
			}
		}
	}))
	defer srv.Close()

	// This client keeps reading, so it answers pings, but sends nothing.
	c, _, err := wsx.Dial(context.Background(), exampleURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(context.Background())
	ce, _ := c.CloseReceived()
	fmt.Println("client:", wsx.CloseStatus(err), ce.Reason)
	fmt.Println("server:", wsx.CloseStatus(<-errc))
	// Output:
	// client: 1001 (going away) idle timeout
	// server: 1001 (going away)
}
