package wsx

import (
	"net/http"
	"strconv"
)

// appendHandshakeResponse checks the request head h as Accept does and
// appends the response to dst: 101 Switching Protocols with the
// handshake's headers, or the refusal Accept would write, as a response
// that closes the connection. A refusal comes with an error wrapping
// ErrHandshake, the one Accept returns. A nil opts means the zero
// options.
//
// It allocates nothing for a request it accepts when dst has room for
// the response (a few hundred bytes). The result's subprotocol is one of
// opts.Subprotocols, and its key points into h's bytes.
func appendHandshakeResponse(dst []byte, h *requestHead, opts *AcceptOptions) ([]byte, serverHandshake, error) {
	var none AcceptOptions
	if opts == nil {
		opts = &none
	}
	hs, ref := checkHandshake(h, opts)
	if ref != nil {
		return appendRefusal(dst, ref.status, ref.header, ref.body), serverHandshake{status: ref.status}, ref.err
	}
	// The headers in the order and spelling of http.Header.Write, as
	// Accept writes them.
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-Websocket-Accept: "...)
	dst = appendAcceptValue(dst, hs.key)
	dst = append(dst, "\r\n"...)
	if hs.compress {
		dst = append(dst, "Sec-Websocket-Extensions: "...)
		dst = hs.extensions.appendTo(dst)
		dst = append(dst, "\r\n"...)
	}
	if hs.subprotocol != "" {
		dst = append(dst, "Sec-Websocket-Protocol: "...)
		dst = append(dst, hs.subprotocol...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Upgrade: websocket\r\n\r\n"...)
	return dst, hs, nil
}

// appendRequestError appends the response to a request parseRequest
// refused with err.
func appendRequestError(dst []byte, err error) []byte {
	status, body := http.StatusBadRequest, "malformed HTTP request"
	if e, ok := err.(*requestError); ok {
		status = e.status
		switch status {
		case http.StatusRequestHeaderFieldsTooLarge:
			body = "request header fields too large"
		case http.StatusNotImplemented:
			body = "Transfer-Encoding is not supported"
		}
	}
	return appendRefusal(dst, status, refusalPlain, body)
}

// appendRefusal appends an error response that closes the connection:
// what http.Error(w, body, status) writes, with the refusal's header,
// "Connection: close" and the body's length, the headers sorted as
// http.Header.Write sorts them.
func appendRefusal(dst []byte, status int, header refusalHeader, body string) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\n"...)
	if header == refusalAllow {
		dst = append(dst, "Allow: GET\r\n"...)
	}
	dst = append(dst, "Connection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)+1), 10)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	switch header {
	case refusalVersion:
		dst = append(dst, "Sec-Websocket-Version: 13\r\n"...)
	case refusalUpgrade:
		// "Connection: Upgrade" gave way to "Connection: close".
		dst = append(dst, "Upgrade: websocket\r\n"...)
	}
	dst = append(dst, "X-Content-Type-Options: nosniff\r\n\r\n"...)
	dst = append(dst, body...)
	return append(dst, '\n')
}
