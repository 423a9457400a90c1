package wsx

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// errOrigin is wrapped by the error Accept returns for a refused origin.
var errOrigin = errors.New("origin not allowed")

// checkOrigin applies the origin policy (RFC 6455 §10.2).
func checkOrigin(h *requestHead, patterns []string) error {
	origin, _ := h.get("Origin")
	if len(origin) == 0 {
		return nil
	}
	for _, p := range patterns {
		if equalFold(origin, p) {
			return nil
		}
	}
	host, schemeHost, ok := splitOrigin(origin)
	if !ok {
		u, err := url.Parse(string(origin))
		if err != nil || u.Host == "" {
			return originError(origin, h.host)
		}
		host, schemeHost = []byte(u.Host), []byte(u.Scheme+"://"+u.Host)
	}
	if bytes.EqualFold(host, h.host) {
		return nil
	}
	for _, p := range patterns {
		target := host
		if strings.Contains(p, "://") {
			target = schemeHost
		}
		if matchFold(p, target) {
			return nil
		}
	}
	return originError(origin, h.host)
}

func originError(origin, host []byte) error {
	return fmt.Errorf("wsx: accept: %w: %q (host %q): %w", errOrigin, string(origin), string(host), ErrHandshake)
}

// splitOrigin reads an origin of the form browsers send,
// scheme "://" name [":" port] with a name of letters, digits, dots,
// hyphens and underscores, and returns what url.Parse would find in it:
// the host, and scheme "://" host (the scheme in the case it came in).
// ok is false for any other form, which is left to url.Parse.
func splitOrigin(origin []byte) (host, schemeHost []byte, ok bool) {
	i := 0
	for i < len(origin) && (isLetter(origin[i]) || i > 0 && (isDigit(origin[i]) || strings.IndexByte("+-.", origin[i]) >= 0)) {
		i++
	}
	if i == 0 || !bytes.HasPrefix(origin[i:], []byte("://")) {
		return nil, nil, false
	}
	host = origin[i+3:]
	name, port := host, []byte(nil)
	if c := bytes.IndexByte(host, ':'); c >= 0 {
		name, port = host[:c], host[c+1:]
	}
	if len(name) == 0 {
		return nil, nil, false
	}
	for _, c := range name {
		if !isLetter(c) && !isDigit(c) && c != '.' && c != '-' && c != '_' {
			return nil, nil, false
		}
	}
	for _, c := range port {
		if !isDigit(c) {
			return nil, nil, false
		}
	}
	return host, origin, true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// matchFold reports whether path.Match(strings.ToLower(pattern),
// strings.ToLower(target)) matches.
func matchFold(pattern string, target []byte) bool {
	if simpleGlob(pattern) && isASCII(target) {
		return globFold(pattern, target)
	}
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(string(target)))
	return err == nil && ok
}

// simpleGlob reports whether pattern is ASCII with no metacharacter of
// path.Match but '*'.
func simpleGlob(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c >= 0x80 || c == '?' || c == '[' || c == '\\' {
			return false
		}
	}
	return true
}

// globFold is path.Match for a simpleGlob pattern and ASCII s, compared
// without regard to case. It follows path.Match's steps, which do not
// backtrack into earlier stars.
func globFold(pattern string, s []byte) bool {
	for len(pattern) > 0 {
		star := false
		for len(pattern) > 0 && pattern[0] == '*' {
			pattern = pattern[1:]
			star = true
		}
		i := strings.IndexByte(pattern, '*')
		if i < 0 {
			i = len(pattern)
		}
		chunk := pattern[:i]
		pattern = pattern[i:]
		if star && chunk == "" {
			// A trailing star matches the rest unless it has a '/'.
			return bytes.IndexByte(s, '/') < 0
		}
		if hasPrefixFold(s, chunk) && (len(s) == len(chunk) || len(pattern) > 0) {
			s = s[len(chunk):]
			continue
		}
		if !star {
			return false
		}
		// Let the star match i+1 bytes, none of them a '/'.
		matched := false
		for i := 0; i < len(s) && s[i] != '/'; i++ {
			t := s[i+1:]
			if !hasPrefixFold(t, chunk) || len(pattern) == 0 && len(t) > len(chunk) {
				continue
			}
			s = t[len(chunk):]
			matched = true
			break
		}
		if !matched {
			return false
		}
	}
	return len(s) == 0
}

// hasPrefixFold reports whether s begins with prefix, in ASCII, without
// regard to case.
func hasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerASCII(s[i]) != lowerASCII(prefix[i]) {
			return false
		}
	}
	return true
}
