package wsx

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Upgrade performs the server side of the opening handshake on a
// connection the program accepted itself, without net/http: it reads the
// HTTP request from nc, checks it as Accept does (with the same refusals,
// written to nc as HTTP responses, after which nc is closed), answers 101
// and returns the connection and the request, whose headers the program
// may inspect (a cookie or a token, the path).
//
// It costs a fraction of what a net/http handler does per connection,
// which matters for servers that take many connections quickly or hold
// many: nothing of the handshake stays in memory once it is done. ctx
// bounds the handshake; a client that does not send its request in time
// is dropped.
func Upgrade(ctx context.Context, nc net.Conn, opts *AcceptOptions) (*Conn, *http.Request, error) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	br := handshakeReaders.Get().(*bufio.Reader)
	br.Reset(nc)
	defer func() {
		br.Reset(nil)
		handshakeReaders.Put(br)
	}()
	req, err := http.ReadRequest(br)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx)
		case isTimeout(err):
			// The deadline set from ctx passed a moment before ctx
			// noticed.
			err = context.DeadlineExceeded
		default:
			w := &rawResponse{nc: nc, header: http.Header{}}
			http.Error(w, "malformed HTTP request", http.StatusBadRequest)
			w.finish()
		}
		nc.Close()
		return nil, nil, fmt.Errorf("wsx: upgrade: read request: %w", err)
	}
	req.RemoteAddr = nc.RemoteAddr().String()
	w := &rawResponse{nc: nc, br: br, header: http.Header{}}
	c, err := Accept(w, req, opts)
	if err != nil {
		if !w.hijacked {
			w.finish()
			nc.Close()
		}
		return nil, req, fmt.Errorf("wsx: upgrade: %w", err)
	}
	if !stop() {
		c.CloseNow()
		return nil, req, ctxError("upgrade", ctx)
	}
	return c, req, nil
}

// handshakeReaders hold the buffered readers Upgrade reads requests with;
// a request's bytes are copied out before the reader goes back.
var handshakeReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// rawResponse is the http.ResponseWriter that Accept writes to when called
// by Upgrade: a refusal is written to the connection as a minimal HTTP
// response, and Hijack hands the connection over.
type rawResponse struct {
	nc       net.Conn
	br       *bufio.Reader
	header   http.Header
	status   int
	body     []byte
	hijacked bool
}

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if len(w.body) < 4096 {
		w.body = append(w.body, p...)
	}
	return len(p), nil
}

// Hijack gives Accept the connection, with the bytes already read past the
// request.
func (w *rawResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return w.nc, bufio.NewReadWriter(w.br, nil), nil
}

// finish writes a refusal.
func (w *rawResponse) finish() {
	status := w.status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.header.Set("Content-Length", strconv.Itoa(len(w.body)))
	w.header.Set("Connection", "close")
	buf := make([]byte, 0, 256+len(w.body))
	buf = append(buf, "HTTP/1.1 "...)
	buf = strconv.AppendInt(buf, int64(status), 10)
	buf = append(buf, ' ')
	buf = append(buf, http.StatusText(status)...)
	buf = append(buf, "\r\n"...)
	w.header.Write(appendWriter{&buf})
	buf = append(buf, "\r\n"...)
	buf = append(buf, w.body...)
	w.nc.SetWriteDeadline(time.Now().Add(time.Second))
	w.nc.Write(buf)
}
