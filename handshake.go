package wsx

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// keyGUID is appended to the client's key to form the accept value
// (RFC 6455 §1.3).
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// text is what header values are held in: strings from net/http, byte
// slices pointing into a request read by parseRequest. The handshake's
// rules are written once over both.
type text interface{ ~string | ~[]byte }

// acceptValue computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptValue(key string) string {
	return string(appendAcceptValue(nil, key))
}

// appendAcceptValue appends the Sec-WebSocket-Accept value for key.
func appendAcceptValue[S text](dst []byte, key S) []byte {
	var buf [64]byte
	b := append(buf[:0], key...)
	b = append(b, keyGUID...)
	sum := sha1.Sum(b)
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// cutToken returns the first element of the comma-separated list s
// (RFC 9110 §5.6.1) with the white space around it removed, skipping
// empty elements, and the rest of s after it; ok is false when s holds
// no more elements. Only spaces and tabs are white space in HTTP lists,
// so "websocket" followed by, say, a no-break space is not the token
// "websocket".
func cutToken[S text](s S) (tok, rest S, ok bool) {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		tok = trimSpaceTab(s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
		if len(tok) > 0 {
			return tok, s, true
		}
	}
	return tok, s, false
}

// trimSpaceTab removes leading and trailing spaces and tabs.
func trimSpaceTab[S text](s S) S {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold reports whether a and b are equal under Unicode case folding,
// as strings.EqualFold does; ASCII, which is all that real requests hold,
// is compared without converting a.
func equalFold[S text](a S, b string) bool {
	if len(a) == len(b) {
		for i := 0; i < len(a); i++ {
			ca, cb := a[i], b[i]
			switch {
			case ca == cb:
			case ca|cb >= 0x80:
				return strings.EqualFold(string(a), b)
			case lowerASCII(ca) != lowerASCII(cb):
				// The bytes before were equal or ASCII letters
				// that fold together, so these are runes that
				// do not.
				return false
			}
		}
		return true
	}
	// Strings of different lengths fold together only through runes
	// beyond ASCII, such as the Kelvin sign, which folds to 'k'.
	if !isASCII(a) || !isASCII(b) {
		return strings.EqualFold(string(a), b)
	}
	return false
}

// isASCII reports whether s is all ASCII.
func isASCII[S text](s S) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// equalFoldASCII reports whether a and b, which are ASCII, are equal
// without regard to case.
func equalFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// headerTokens returns the comma-separated tokens of every value of the
// named header, with surrounding white space removed.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for tok, rest, ok := cutToken(v); ok; tok, rest, ok = cutToken(rest) {
			out = append(out, tok)
		}
	}
	return out
}

// hasToken reports whether the named header lists token, compared without
// regard to case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		if listHasToken(v, token) {
			return true
		}
	}
	return false
}

// listHasToken reports whether the comma-separated list v holds token,
// compared without regard to case.
func listHasToken[S text](v S, token string) bool {
	for tok, rest, ok := cutToken(v); ok; tok, rest, ok = cutToken(rest) {
		if equalFold(tok, token) {
			return true
		}
	}
	return false
}

// IsUpgrade reports whether r asks to upgrade to WebSocket: a GET with
// "Connection: upgrade" and "Upgrade: websocket". A handler serving both
// WebSocket and plain HTTP on one path can branch on it.
func IsUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		hasToken(r.Header, "Connection", "upgrade") &&
		hasToken(r.Header, "Upgrade", "websocket")
}
