package wsx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
// is dropped. The request's head may be 16 KiB long at most, with 64
// header lines.
func Upgrade(ctx context.Context, nc net.Conn, opts *AcceptOptions) (*Conn, *http.Request, error) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	var o AcceptOptions
	if opts != nil {
		o = *opts
	}
	st := upgradeStates.Get().(*upgradeState)
	defer func() {
		st.release()
		upgradeStates.Put(st)
	}()

	headLen, n, err := st.readHead(nc)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx)
		case isTimeout(err):
			// The deadline set from ctx passed a moment before ctx
			// noticed.
			err = context.DeadlineExceeded
		default:
			writeRefusal(nc, appendRequestError(st.out[:0], err))
		}
		nc.Close()
		return nil, nil, fmt.Errorf("wsx: upgrade: read request: %w", err)
	}
	resp, hs, herr := appendHandshakeResponse(st.out[:0], &st.head, &o)
	req := st.request(ctx, headLen, nc.RemoteAddr())
	if herr != nil {
		writeRefusal(nc, resp)
		nc.Close()
		return nil, req, fmt.Errorf("wsx: upgrade: %w", herr)
	}
	nc.SetDeadline(time.Time{})
	nc.SetWriteDeadline(time.Now().Add(closeTimeout))
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		return nil, req, fmt.Errorf("wsx: upgrade: write response: %w", err)
	}
	nc.SetWriteDeadline(time.Time{})
	c := newConn(nc, false, st.buf[headLen:n], hs.subprotocol, o.connConfig(&hs))
	if !stop() {
		c.CloseNow()
		return nil, req, ctxError("upgrade", ctx)
	}
	return c, req, nil
}

// writeRefusal writes an error response, giving the client a second to
// take it.
func writeRefusal(nc net.Conn, resp []byte) {
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(resp)
}

// upgradeState is what Upgrade needs while it reads and answers a
// request; it goes back to a pool once the connection has taken the bytes
// read past the request. Heads longer than handshakeReadSize, which few
// clients send, are read into a buffer of maxHeadSize from a pool of their
// own.
type upgradeState struct {
	buf   []byte // small[:], or large[:] once a head outgrows small
	small [handshakeReadSize]byte
	large *[maxHeadSize]byte
	head  requestHead
	out   [512]byte
}

var (
	upgradeStates = sync.Pool{New: func() any { return new(upgradeState) }}
	largeHeadBufs = sync.Pool{New: func() any { return new([maxHeadSize]byte) }}
)

// handshakeReadSize bounds each read of a request: what is read past the
// request, at most this much less one, must fit the connection's read
// buffer.
const handshakeReadSize = 4 << 10

// readHead reads from nc until st.buf holds a request head and parses it.
// It returns the head's length and how much was read in all.
func (st *upgradeState) readHead(nc net.Conn) (headLen, n int, err error) {
	st.buf = st.small[:]
	for {
		m, rerr := nc.Read(st.room(n))
		n += m
		if headLen, err := st.parse(n, m); err != nil || headLen > 0 {
			return headLen, n, err
		}
		if rerr != nil {
			if rerr == io.EOF && n > 0 {
				rerr = io.ErrUnexpectedEOF
			}
			return 0, n, rerr
		}
	}
}

// room returns where the next read goes, n bytes having been read: at
// most handshakeReadSize, in the large buffer once the small one is full.
func (st *upgradeState) room(n int) []byte {
	if n == len(st.buf) && st.large == nil {
		st.large = largeHeadBufs.Get().(*[maxHeadSize]byte)
		copy(st.large[:], st.buf)
		st.buf = st.large[:]
	}
	return st.buf[n:min(n+handshakeReadSize, len(st.buf))]
}

// parse parses the head in the first n bytes of st.buf, the last m of
// which a read just brought, and returns its length, 0 while it is
// incomplete. A head can end, and a line be judged, only when a read
// brings a '\n'; the first read may show a request line that cannot be
// one, and maxHeadSize bytes without a head are a head too large.
func (st *upgradeState) parse(n, m int) (int, error) {
	if m > 0 && (n == m || n == maxHeadSize || bytes.IndexByte(st.buf[n-m:n], '\n') >= 0) {
		return parseRequest(st.buf[:n], &st.head)
	}
	return 0, nil
}

// release returns the large buffer, if st took one.
func (st *upgradeState) release() {
	if st.large != nil {
		largeHeadBufs.Put(st.large)
		st.large = nil
	}
	st.buf = nil
}

// request returns the http.Request of the head Upgrade read, whose first
// headLen bytes of st.buf it copies. Names of header fields are put in
// canonical form in st.buf.
func (st *upgradeState) request(ctx context.Context, headLen int, remote net.Addr) *http.Request {
	h := &st.head
	fields := h.fields()
	for _, f := range fields {
		canonicalizeName(f.name)
	}
	// One string holds the head; the request's strings are parts of it.
	// A slice of st.buf is found in it by its capacity, which tells
	// where in st.buf it starts.
	s := string(st.buf[:headLen])
	str := func(b []byte) string {
		i := cap(st.buf) - cap(b)
		return s[i : i+len(b)]
	}
	// Host goes to the request's Host, as with http.ReadRequest.
	var host string
	header := make(http.Header, len(fields))
	values := make([]string, len(fields))
	for i, f := range fields {
		name, v := str(f.name), str(f.value)
		switch vv, ok := header[name]; {
		case name == "Host":
			host = v
		case ok:
			header[name] = append(vv, v)
		default:
			values[i] = v
			header[name] = values[i : i+1 : i+1]
		}
	}
	// As http.ReadRequest does (RFC 7234 §5.4).
	if p := header["Pragma"]; len(p) > 0 && p[0] == "no-cache" && header["Cache-Control"] == nil {
		header["Cache-Control"] = []string{"no-cache"}
	}
	r := &http.Request{
		Method:     str(h.method),
		Proto:      str(h.proto),
		ProtoMajor: h.major,
		ProtoMinor: h.minor,
		Header:     header,
		Body:       http.NoBody,
		RequestURI: str(h.target),
		RemoteAddr: remote.String(),
	}
	// parseRequest checked the target with url.ParseRequestURI, or as
	// it would.
	r.URL, _ = parseTarget(r.Method, r.RequestURI)
	if r.URL == nil {
		r.URL = new(url.URL)
	}
	r.Host = r.URL.Host
	if r.Host == "" {
		r.Host = host
	}
	return r.WithContext(ctx)
}

// canonicalizeName puts a header field name in the form of
// http.CanonicalHeaderKey: upper case at the start and after each hyphen,
// lower case elsewhere.
func canonicalizeName(name []byte) {
	upper := true
	for i, c := range name {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name[i] = c
		upper = c == '-'
	}
}
