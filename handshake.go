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

// acceptValue computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptValue(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(keyGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// headerTokens returns the comma-separated tokens of every value of the
// named header, with surrounding white space removed. Only spaces and tabs
// are white space in HTTP lists (RFC 9110 §5.6.1), so "websocket" followed
// by, say, a no-break space is not the token "websocket".
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.Trim(tok, " \t"); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}

// hasToken reports whether the named header lists token, compared without
// regard to case.
func hasToken(h http.Header, name, token string) bool {
	for _, t := range headerTokens(h, name) {
		if strings.EqualFold(t, token) {
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
