package wsx

import (
	"fmt"
	"strconv"
)

// CompressionMode selects whether and how a connection uses the
// permessage-deflate extension (RFC 7692), which compresses each message
// with DEFLATE.
type CompressionMode int

const (
	// CompressionDisabled neither offers nor accepts compression. It is
	// the zero value: compression costs CPU, and on a fast network it
	// is rarely worth it for small messages.
	CompressionDisabled CompressionMode = iota

	// CompressionNoContextTakeover compresses every message on its own.
	// Compressors and decompressors come from pools and are held only
	// while a message is written or read, so an idle connection costs
	// nothing extra. Small, similar messages compress less well than
	// with context takeover.
	CompressionNoContextTakeover

	// CompressionContextTakeover lets each message refer back to the
	// ones before it (up to the negotiated window, 32 KiB at most),
	// which compresses streams of similar messages best. The price is
	// memory held for the life of the connection: the compressor's
	// window and tables and the decompressor's window — see the
	// README's compression section for measured figures.
	CompressionContextTakeover
)

// String returns the mode's name: "disabled", "no-context-takeover" or
// "context-takeover".
func (m CompressionMode) String() string {
	switch m {
	case CompressionDisabled:
		return "disabled"
	case CompressionNoContextTakeover:
		return "no-context-takeover"
	case CompressionContextTakeover:
		return "context-takeover"
	}
	return "CompressionMode(" + strconv.Itoa(int(m)) + ")"
}

// DefaultCompressionThreshold is the size below which messages are sent
// uncompressed when the options leave the threshold at zero: compressing
// a tiny message saves a few bytes at best and costs CPU.
const DefaultCompressionThreshold = 128

const deflateName = "permessage-deflate"

// deflateOffer is one validated permessage-deflate offer or response.
// Window bits are 0 when absent; clientMaxBits is -1 for a
// client_max_window_bits offered without a value.
type deflateOffer struct {
	serverNoTakeover bool
	clientNoTakeover bool
	serverMaxBits    int
	clientMaxBits    int
}

// deflateParams are the parameters of permessage-deflate.
var deflateParams = [...]string{"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"}

// paramProblem is what makes a permessage-deflate entry invalid.
type paramProblem uint8

const (
	paramsOK paramProblem = iota
	paramUnknown
	paramRepeated
	paramTakesNoValue
	paramInvalidValue
	paramNeedsValue
)

// parseDeflateParams checks the parameters of a permessage-deflate entry
// (RFC 7692 §7.1). In an offer client_max_window_bits may come without a
// value; in a response every window parameter needs one. Unknown or
// repeated parameters and out-of-range values make the entry invalid: the
// problem is then told, with the index of the parameter in e.params that
// has it, which deflateParamsError turns into an error.
func parseDeflateParams[S text](e extensionOf[S], response bool) (o deflateOffer, bad int, problem paramProblem) {
	var seen uint8 // bits of deflateParams
	for i, p := range e.params {
		k := paramIndex(p.name)
		if k < 0 {
			return o, i, paramUnknown
		}
		if seen&(1<<k) != 0 {
			return o, i, paramRepeated
		}
		seen |= 1 << k
		switch name := deflateParams[k]; name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if p.hasValue {
				return o, i, paramTakesNoValue
			}
			if name == "server_no_context_takeover" {
				o.serverNoTakeover = true
			} else {
				o.clientNoTakeover = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits := -1
			if p.hasValue {
				b, ok := windowBits(p.value)
				if !ok {
					return o, i, paramInvalidValue
				}
				bits = b
			} else if response || name == "server_max_window_bits" {
				return o, i, paramNeedsValue
			}
			if name == "server_max_window_bits" {
				o.serverMaxBits = bits
			} else {
				o.clientMaxBits = bits
			}
		}
	}
	return o, 0, paramsOK
}

// paramIndex returns the index in deflateParams of a parameter name,
// compared without regard to case, or -1.
func paramIndex[S text](name S) int {
	for k, n := range deflateParams {
		if equalFold(name, n) {
			return k
		}
	}
	return -1
}

// deflateParamsError describes what parseDeflateParams found wrong with
// e.params[bad].
func deflateParamsError(e extension, bad int, problem paramProblem) error {
	p := e.params[bad]
	var name string
	if k := paramIndex(p.name); k >= 0 {
		name = deflateParams[k]
	}
	switch problem {
	case paramUnknown:
		return fmt.Errorf("unknown parameter %s", p.name)
	case paramRepeated:
		return fmt.Errorf("parameter %s repeated", name)
	case paramTakesNoValue:
		return fmt.Errorf("parameter %s takes no value", name)
	case paramInvalidValue:
		return fmt.Errorf("parameter %s has invalid value %q", name, p.value)
	default:
		return fmt.Errorf("parameter %s needs a value", name)
	}
}

// windowBits parses a window size: a decimal 8–15 without leading zeros,
// read as strconv.Atoi reads it (so with an optional sign).
func windowBits[S text](s S) (int, bool) {
	if len(s) == 0 || len(s) > 2 || s[0] == '0' {
		return 0, false
	}
	digits := s
	if s[0] == '+' || s[0] == '-' {
		digits = s[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if s[0] == '-' {
		n = -n
	}
	if n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// deflateConfig is what a connection agreed on, seen from one side: how
// it compresses what it writes and decompresses what it reads.
type deflateConfig struct {
	writeTakeover bool
	writeBits     int
	readTakeover  bool
	readBits      int
}

// deflateResponse is a server's permessage-deflate response: the
// parameters it sends back.
type deflateResponse struct {
	serverNoTakeover bool
	clientNoTakeover bool
	serverMaxBits    int // 0 when absent
}

// appendTo appends the Sec-WebSocket-Extensions value of r.
func (r deflateResponse) appendTo(b []byte) []byte {
	b = append(b, deflateName...)
	if r.serverNoTakeover {
		b = append(b, "; server_no_context_takeover"...)
	}
	if r.clientNoTakeover {
		b = append(b, "; client_no_context_takeover"...)
	}
	if r.serverMaxBits > 0 {
		b = append(b, "; server_max_window_bits="...)
		b = strconv.AppendInt(b, int64(r.serverMaxBits), 10)
	}
	return b
}

// negotiateDeflate picks the first acceptable permessage-deflate offer
// (RFC 7692 §5 and §7.1) and returns the response header value and the
// server's configuration. Offers that are invalid are skipped, as the RFC
// requires a server to decline them.
func negotiateDeflate(exts []extension, mode CompressionMode) (string, deflateConfig, bool) {
	if mode == CompressionDisabled {
		return "", deflateConfig{}, false
	}
	for _, e := range exts {
		if r, cfg, ok := acceptDeflateOffer(e, mode); ok {
			return string(r.appendTo(nil)), cfg, true
		}
	}
	return "", deflateConfig{}, false
}

// acceptDeflateOffer answers one entry of a client's
// Sec-WebSocket-Extensions; ok is false when the entry is not a valid
// permessage-deflate offer. mode is not CompressionDisabled.
func acceptDeflateOffer[S text](e extensionOf[S], mode CompressionMode) (r deflateResponse, cfg deflateConfig, ok bool) {
	if !equalFold(e.name, deflateName) {
		return r, cfg, false
	}
	o, _, problem := parseDeflateParams(e, false)
	if problem != paramsOK {
		return r, cfg, false
	}
	cfg = deflateConfig{writeTakeover: true, writeBits: 15, readTakeover: true, readBits: 15}
	if o.serverNoTakeover || mode == CompressionNoContextTakeover {
		cfg.writeTakeover = false
		r.serverNoTakeover = true
	}
	if o.clientNoTakeover || mode == CompressionNoContextTakeover {
		// Asking the client not to take over context spares
		// this side the decompression window.
		cfg.readTakeover = false
		r.clientNoTakeover = true
	}
	if o.serverMaxBits > 0 {
		cfg.writeBits = o.serverMaxBits
		r.serverMaxBits = o.serverMaxBits
	}
	if o.clientMaxBits > 0 {
		// The client announced it never uses a larger window.
		cfg.readBits = o.clientMaxBits
	}
	return r, cfg, true
}

// deflateOfferHeader is the offer a client in mode sends. The client
// accepts any window the server asks it to use (client_max_window_bits)
// and decompresses any window the server uses.
func deflateOfferHeader(mode CompressionMode) string {
	switch mode {
	case CompressionNoContextTakeover:
		return deflateName + "; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
	case CompressionContextTakeover:
		return deflateName + "; client_max_window_bits"
	}
	return ""
}

// acceptDeflateResponse checks the server's Sec-WebSocket-Extensions
// against the client's offer (RFC 7692 §5.1 and §7.1) and returns the
// client's configuration; ok is false when the server declined.
func acceptDeflateResponse(exts []extension, mode CompressionMode) (cfg deflateConfig, ok bool, err error) {
	if len(exts) == 0 {
		return cfg, false, nil
	}
	if mode == CompressionDisabled {
		return cfg, false, fmt.Errorf("server chose extension %q that was not offered", exts[0].name)
	}
	if len(exts) > 1 {
		return cfg, false, fmt.Errorf("server chose %d extensions, only %s was offered", len(exts), deflateName)
	}
	e := exts[0]
	if !equalFold(e.name, deflateName) {
		return cfg, false, fmt.Errorf("server chose extension %q that was not offered", e.name)
	}
	o, bad, problem := parseDeflateParams(e, true)
	if problem != paramsOK {
		return cfg, false, fmt.Errorf("server's %s response: %v", deflateName, deflateParamsError(e, bad, problem))
	}
	if mode == CompressionNoContextTakeover && !o.serverNoTakeover {
		return cfg, false, fmt.Errorf("server's %s response lacks the offered server_no_context_takeover", deflateName)
	}
	cfg = deflateConfig{
		writeTakeover: !o.clientNoTakeover && mode == CompressionContextTakeover,
		writeBits:     15,
		readTakeover:  !o.serverNoTakeover,
		readBits:      15,
	}
	if o.clientMaxBits > 0 {
		cfg.writeBits = o.clientMaxBits
	}
	if o.serverMaxBits > 0 {
		cfg.readBits = o.serverMaxBits
	}
	return cfg, true, nil
}
