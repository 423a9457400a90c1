package wsx

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// Limits on the request heads parseRequest reads.
const (
	// maxHeadSize bounds a request head, its final blank line included.
	maxHeadSize = 16 << 10
	// maxHeaderFields bounds the number of header lines.
	maxHeaderFields = 64
)

// headerField is one header line of a request head.
type headerField struct {
	name  []byte // a token (so ASCII), in the case the client sent
	value []byte // without the white space around it
}

// requestHead is an HTTP/1.x request head. The slices of one that
// parseRequest filled point into the bytes it parsed, and are valid only
// while those bytes are.
type requestHead struct {
	method []byte
	target []byte // the request-target, as http.Request.RequestURI
	proto  []byte // the version as sent, such as "HTTP/1.1"
	major  int
	minor  int
	// host is the host the request is for, as http.Request.Host: the
	// authority of an absolute target, or else the Host header.
	host []byte

	nfield int
	field  [maxHeaderFields]headerField
	// more, when not nil, holds the fields instead of field: Accept
	// sets it for a request with more than maxHeaderFields values of
	// interest.
	more []headerField
}

// fields returns the header fields in the order they came.
func (h *requestHead) fields() []headerField {
	if h.more != nil {
		return h.more
	}
	return h.field[:h.nfield]
}

// get returns the first value of the named header and how many values it
// has. name is compared without regard to ASCII case.
func (h *requestHead) get(name string) (first []byte, n int) {
	for _, f := range h.fields() {
		if equalFoldASCII(f.name, name) {
			if n == 0 {
				first = f.value
			}
			n++
		}
	}
	return first, n
}

// hasToken reports whether the named header lists token, compared
// without regard to case.
func (h *requestHead) hasToken(name, token string) bool {
	for _, f := range h.fields() {
		if equalFoldASCII(f.name, name) && listHasToken(f.value, token) {
			return true
		}
	}
	return false
}

// requestError is a request head that parseRequest refuses, with the
// status of the response it calls for.
type requestError struct {
	status int
	reason string
}

func (e *requestError) Error() string {
	return "wsx: " + e.reason + ": " + ErrHandshake.Error()
}

func (e *requestError) Unwrap() error { return ErrHandshake }

// The errors of parseRequest. Each is one value, so that refusing a
// request allocates nothing either.
var (
	errHeadTooLarge     = &requestError{http.StatusRequestHeaderFieldsTooLarge, "request head larger than 16 KiB"}
	errTooManyFields    = &requestError{http.StatusRequestHeaderFieldsTooLarge, "more than 64 header fields"}
	errBareLF           = &requestError{http.StatusBadRequest, "line not ended by CRLF"}
	errRequestLine      = &requestError{http.StatusBadRequest, "malformed request line"}
	errMethod           = &requestError{http.StatusBadRequest, "invalid method"}
	errTarget           = &requestError{http.StatusBadRequest, "invalid request target"}
	errVersion          = &requestError{http.StatusBadRequest, "malformed HTTP version"}
	errFolded           = &requestError{http.StatusBadRequest, "folded or indented header line"}
	errFieldName        = &requestError{http.StatusBadRequest, "malformed header field name"}
	errFieldValue       = &requestError{http.StatusBadRequest, "invalid byte in header field value"}
	errNoHost           = &requestError{http.StatusBadRequest, "missing Host header"}
	errManyHosts        = &requestError{http.StatusBadRequest, "several Host headers"}
	errHost             = &requestError{http.StatusBadRequest, "malformed Host header"}
	errContentLength    = &requestError{http.StatusBadRequest, "invalid Content-Length"}
	errTransferEncoding = &requestError{http.StatusNotImplemented, "Transfer-Encoding not supported"}
)

// parseRequest parses the HTTP/1.1 request head at the start of b into h.
// It returns the length of the head, its final CRLF CRLF included, or 0
// while b holds only the beginning of a head that may still turn out
// valid; the lines b holds in whole are checked at every call, so that a
// request that cannot be valid is refused without waiting for its end.
// The cost is linear in the part of b that holds the head: a caller that
// reads a head piece by piece need only call again when a piece brings a
// '\n'. Bytes past the head are not looked at.
//
// An error is a *requestError, which wraps ErrHandshake and carries the
// status to answer with: 431 for a head over maxHeadSize or with more than
// maxHeaderFields fields, 501 for a Transfer-Encoding, 400 otherwise.
//
// What it refuses is a superset of what net/http refuses (its server's
// checks on Host included), so that every head it accepts reads the same
// with http.ReadRequest. Beyond those, it refuses lines ended by a bare LF
// (RFC 9112 §2.2 allows either), obs-fold and white space before a colon
// (which RFC 9112 §5 has servers reject), and every Transfer-Encoding: a
// WebSocket handshake has no body.
func parseRequest(b []byte, h *requestHead) (int, error) {
	h.nfield = 0
	h.more = nil
	h.host = nil
	end := min(len(b), maxHeadSize)

	line, next, ok, err := headLine(b, 0, end)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, checkPartialRequestLine(b[:end])
	}
	if err := h.parseRequestLine(line); err != nil {
		return 0, err
	}
	for {
		line, next, ok, err = headLine(b, next, end)
		if err != nil || !ok {
			return 0, err
		}
		if len(line) == 0 {
			break
		}
		if err := h.addField(line); err != nil {
			return 0, err
		}
	}
	if err := h.checkFields(); err != nil {
		return 0, err
	}
	return next, nil
}

// headLine returns the line of b[:end] that starts at i, without its
// CRLF, and where the next one starts. ok is false, with no error, when
// the line has not ended within b[:end] and b may still grow into a head.
func headLine(b []byte, i, end int) (line []byte, next int, ok bool, err error) {
	n := bytes.IndexByte(b[i:end], '\n')
	if n < 0 {
		if len(b) >= maxHeadSize {
			return nil, 0, false, errHeadTooLarge
		}
		return nil, 0, false, nil
	}
	if n == 0 || b[i+n-1] != '\r' {
		return nil, 0, false, errBareLF
	}
	return b[i : i+n-1], i + n + 1, true, nil
}

// checkPartialRequestLine refuses the beginning of a request line that no
// ending can make valid, such as the start of a TLS handshake: one whose
// method is empty or has a byte a token cannot have.
func checkPartialRequestLine(b []byte) error {
	for i, c := range b {
		if c == ' ' {
			if i == 0 {
				return errMethod
			}
			return nil
		}
		if !isTokenChar(c) {
			return errMethod
		}
	}
	return nil
}

// parseRequestLine reads "method SP request-target SP HTTP-version"
// (RFC 9112 §3), split as net/http splits it: at the first two spaces.
func (h *requestHead) parseRequestLine(line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return errRequestLine
	}
	h.method, line = line[:sp], line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp < 0 {
		return errRequestLine
	}
	h.target, h.proto = line[:sp], line[sp+1:]
	if !isToken(h.method) {
		return errMethod
	}
	// http.ParseHTTPVersion: "HTTP/" DIGIT "." DIGIT.
	p := h.proto
	if len(p) != len("HTTP/1.1") || string(p[:5]) != "HTTP/" || p[6] != '.' || !isDigit(p[5]) || !isDigit(p[7]) {
		return errVersion
	}
	h.major, h.minor = int(p[5]-'0'), int(p[7]-'0')
	return h.checkTarget()
}

// checkTarget accepts what url.ParseRequestURI accepts, as net/http
// reads the target, and sets h.host to an absolute target's host.
func (h *requestHead) checkTarget() error {
	t := h.target
	if len(t) == 0 {
		return errTarget
	}
	for _, c := range t {
		if c < ' ' || c == 0x7f {
			return errTarget
		}
	}
	if t[0] == '/' {
		// The origin form, that of every real WebSocket request: the
		// only errors url.ParseRequestURI finds in it are bad escapes
		// in the path.
		path := t
		if q := bytes.IndexByte(t, '?'); q >= 0 {
			path = t[:q]
		}
		for i := 0; i < len(path); i++ {
			if path[i] == '%' && (i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2])) {
				return errTarget
			}
		}
		return nil
	}
	if string(t) == "*" && string(h.method) != http.MethodConnect {
		return nil
	}
	// The absolute form, sent to proxies, or the authority form of a
	// CONNECT: rare enough to be left to net/url.
	u, err := parseTarget(string(h.method), string(t))
	if err != nil {
		return errTarget
	}
	if u.Host != "" {
		h.host = []byte(u.Host)
	}
	return nil
}

// parseTarget parses a request target as http.ReadRequest does.
func parseTarget(method, target string) (*url.URL, error) {
	justAuthority := method == "CONNECT" && (target == "" || target[0] != '/')
	if justAuthority {
		target = "http://" + target
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	if justAuthority {
		u.Scheme = ""
	}
	return u, nil
}

// addField reads a header line, "field-name: field-value" (RFC 9112 §5).
func (h *requestHead) addField(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errFolded
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return errFieldName
	}
	name, value := line[:colon], line[colon+1:]
	if !isToken(name) {
		return errFieldName
	}
	for _, c := range value {
		if !validHeaderValueByte(c) {
			return errFieldValue
		}
	}
	if h.nfield == len(h.field) {
		return errTooManyFields
	}
	h.field[h.nfield] = headerField{name, trimSpaceTab(value)}
	h.nfield++
	return nil
}

// checkFields applies what net/http checks once the head is read: Host
// (one, valid, and required from HTTP/1.1 on) and the framing of a body.
func (h *requestHead) checkFields() error {
	host, hosts := h.get("Host")
	switch {
	case hosts > 1:
		return errManyHosts
	case hosts == 0 && (h.major > 1 || h.major == 1 && h.minor >= 1):
		return errNoHost
	case hosts == 1 && !validHost(host):
		return errHost
	}
	if h.host == nil {
		h.host = host
	}
	if _, n := h.get("Transfer-Encoding"); n > 0 {
		return errTransferEncoding
	}
	// Content-Length: one number, or repeats of it (RFC 9110 §8.6).
	first, n := h.get("Content-Length")
	if n > 0 {
		if !validContentLength(first) {
			return errContentLength
		}
		for _, f := range h.fields() {
			if equalFoldASCII(f.name, "Content-Length") && !bytes.Equal(f.value, first) {
				return errContentLength
			}
		}
	}
	return nil
}

// validContentLength reports whether strconv.ParseUint(s, 10, 63), as
// net/http reads Content-Length, accepts s.
func validContentLength(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	var n uint64
	for _, c := range s {
		if !isDigit(c) {
			return false
		}
		n = n*10 + uint64(c-'0')
		if n >= 1<<63 {
			return false
		}
	}
	return true
}

// validHost reports whether a Host header has only the bytes net/http's
// server allows in one (httpguts.ValidHostHeader).
func validHost(h []byte) bool {
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValueByte reports whether c may appear in a field value:
// visible characters, space, tab and obs-text, as net/textproto allows.
func validHeaderValueByte(c byte) bool {
	return c >= ' ' && c != 0x7f || c == '\t'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
