package wsx

import (
	"net/http"
	"strings"
)

// extension is one entry of a Sec-WebSocket-Extensions header
// (RFC 6455 §9.1): a name and its parameters in order.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name     string
	value    string
	hasValue bool
}

// parseExtensions parses every Sec-WebSocket-Extensions header of h. An
// entry that does not follow the grammar is returned with ok false so a
// server can decline it and a client can refuse the response.
func parseExtensions(h http.Header) (exts []extension, ok bool) {
	ok = true
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		p := extParser{s: v}
		for {
			p.skipSpace()
			if p.done() {
				break
			}
			if p.s[p.i] == ',' {
				// Empty list elements are allowed (RFC 9110 §5.6.1).
				p.i++
				continue
			}
			e, good := p.extension()
			if !good {
				ok = false
				p.skipTo(',')
			} else {
				exts = append(exts, e)
			}
			p.skipSpace()
			if p.done() {
				break
			}
			if p.s[p.i] != ',' {
				ok = false
				p.skipTo(',')
			}
			p.i++
		}
	}
	return exts, ok
}

// extParser walks one header value.
type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }

func (p *extParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser) skipTo(c byte) {
	for p.i < len(p.s) && p.s[p.i] != c {
		p.i++
	}
}

func (p *extParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string (RFC 9110 §5.6.4) and returns its unescaped
// value.
func (p *extParser) quoted() (string, bool) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), true
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", false
}

func (p *extParser) extension() (extension, bool) {
	var e extension
	if e.name = p.token(); e.name == "" {
		return e, false
	}
	for {
		p.skipSpace()
		if p.done() || p.s[p.i] == ',' {
			return e, true
		}
		if p.s[p.i] != ';' {
			return e, false
		}
		p.i++
		p.skipSpace()
		var prm extParam
		if prm.name = p.token(); prm.name == "" {
			return e, false
		}
		p.skipSpace()
		if !p.done() && p.s[p.i] == '=' {
			p.i++
			p.skipSpace()
			prm.hasValue = true
			if !p.done() && p.s[p.i] == '"' {
				v, ok := p.quoted()
				// The unescaped value must itself be a token
				// (RFC 6455 §9.1).
				if !ok || v == "" || !isToken(v) {
					return e, false
				}
				prm.value = v
			} else if prm.value = p.token(); prm.value == "" {
				return e, false
			}
		}
		e.params = append(e.params, prm)
	}
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}
