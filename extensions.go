package wsx

import (
	"net/http"
	"strings"
)

// extensionOf is one entry of a Sec-WebSocket-Extensions header
// (RFC 6455 §9.1): a name and its parameters in order.
type extensionOf[S text] struct {
	name   S
	params []extParamOf[S]
}

type extParamOf[S text] struct {
	name     S
	value    S
	hasValue bool
}

// extension and extParam are entries read from net/http headers.
type (
	extension = extensionOf[string]
	extParam  = extParamOf[string]
)

// parseExtensions parses every Sec-WebSocket-Extensions header of h. An
// entry that does not follow the grammar is returned with ok false so a
// server can decline it and a client can refuse the response.
func parseExtensions(h http.Header) (exts []extension, ok bool) {
	ok = true
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		p := extParser[string]{s: v}
		for {
			e, good, more := p.next(nil)
			if !more {
				break
			}
			if !good {
				ok = false
				continue
			}
			exts = append(exts, e)
		}
	}
	return exts, ok
}

// extParser walks one header value.
type extParser[S text] struct {
	s S
	i int
}

// next parses the next entry of the list, appending its parameters to
// params[:0]. more is false at the end of the value; good is false for an
// entry that does not follow the grammar, which is skipped.
func (p *extParser[S]) next(params []extParamOf[S]) (e extensionOf[S], good, more bool) {
	for {
		p.skipSpace()
		if p.done() {
			return e, false, false
		}
		if p.s[p.i] != ',' {
			break
		}
		// Empty list elements are allowed (RFC 9110 §5.6.1).
		p.i++
	}
	e, good = p.extension(params[:0])
	if !good {
		p.skipTo(',')
	}
	// A good entry ends at a comma or at the end of the value.
	return e, good, true
}

func (p *extParser[S]) done() bool { return p.i >= len(p.s) }

func (p *extParser[S]) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser[S]) skipTo(c byte) {
	for p.i < len(p.s) && p.s[p.i] != c {
		p.i++
	}
}

func (p *extParser[S]) token() S {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string (RFC 9110 §5.6.4) and returns its unescaped
// value, which is a part of the header value unless it has escapes.
func (p *extParser[S]) quoted() (S, bool) {
	p.i++ // opening quote
	for i := p.i; i < len(p.s); i++ {
		switch p.s[i] {
		case '"':
			v := p.s[p.i:i]
			p.i = i + 1
			return v, true
		case '\\':
			return p.unescape()
		}
	}
	p.i = len(p.s)
	var none S
	return none, false
}

// unescape reads a quoted-string that has escapes, from after its opening
// quote.
func (p *extParser[S]) unescape() (S, bool) {
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return S(b), true
		case c == '\\' && p.i+1 < len(p.s):
			b = append(b, p.s[p.i+1])
			p.i += 2
		default:
			b = append(b, c)
			p.i++
		}
	}
	var none S
	return none, false
}

func (p *extParser[S]) extension(params []extParamOf[S]) (extensionOf[S], bool) {
	var e extensionOf[S]
	if e.name = p.token(); len(e.name) == 0 {
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
		var prm extParamOf[S]
		if prm.name = p.token(); len(prm.name) == 0 {
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
				if !ok || len(v) == 0 || !isToken(v) {
					return e, false
				}
				prm.value = v
			} else if prm.value = p.token(); len(prm.value) == 0 {
				return e, false
			}
		}
		params = append(params, prm)
		e.params = params
	}
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool { return tokenChars[c] }

var tokenChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

func isToken[S text](s S) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return len(s) > 0
}
