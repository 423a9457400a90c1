package wsx

import (
	"net/http"
	"testing"
)

func extHeader(v ...string) http.Header {
	h := http.Header{}
	for _, s := range v {
		h.Add("Sec-WebSocket-Extensions", s)
	}
	return h
}

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		in   []string
		want []extension
		ok   bool
	}{
		{[]string{"permessage-deflate"}, []extension{{name: "permessage-deflate"}}, true},
		{[]string{"permessage-deflate; client_max_window_bits"},
			[]extension{{name: "permessage-deflate", params: []extParam{{name: "client_max_window_bits"}}}}, true},
		{[]string{`permessage-deflate ; server_max_window_bits = "10" ; client_no_context_takeover`},
			[]extension{{name: "permessage-deflate", params: []extParam{{name: "server_max_window_bits", value: "10", hasValue: true}, {name: "client_no_context_takeover"}}}}, true},
		{[]string{"a, b; x=1", "c"},
			[]extension{{name: "a"}, {name: "b", params: []extParam{{name: "x", value: "1", hasValue: true}}}, {name: "c"}}, true},
		{[]string{"permessage-deflate; =1, x-other"}, []extension{{name: "x-other"}}, false},
		{[]string{`permessage-deflate; server_max_window_bits="1 0"`}, nil, false},
		{[]string{`permessage-deflate; server_max_window_bits="10`}, nil, false},
		{[]string{"permessage-deflate x"}, nil, false},
		{[]string{";"}, nil, false},
		{[]string{" , ,permessage-deflate"}, []extension{{name: "permessage-deflate"}}, true},
	}
	for _, tt := range tests {
		got, ok := parseExtensions(extHeader(tt.in...))
		if ok != tt.ok || !equalExts(got, tt.want) {
			t.Errorf("parseExtensions(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func equalExts(a, b []extension) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || len(a[i].params) != len(b[i].params) {
			return false
		}
		for j := range a[i].params {
			if a[i].params[j] != b[i].params[j] {
				return false
			}
		}
	}
	return true
}

func TestNegotiateDeflate(t *testing.T) {
	const (
		off  = CompressionDisabled
		noCT = CompressionNoContextTakeover
		ct   = CompressionContextTakeover
	)
	tests := []struct {
		name   string
		offers []string
		mode   CompressionMode
		resp   string // "" means declined
		cfg    deflateConfig
	}{
		{"disabled", []string{"permessage-deflate"}, off, "", deflateConfig{}},
		{"no offer", nil, ct, "", deflateConfig{}},
		{"other extension only", []string{"x-webkit-deflate-frame"}, ct, "", deflateConfig{}},
		{"plain offer, takeover", []string{"permessage-deflate"}, ct,
			"permessage-deflate", deflateConfig{true, 15, true, 15}},
		{"plain offer, no takeover", []string{"permessage-deflate"}, noCT,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover", deflateConfig{false, 15, false, 15}},
		{"browser offer", []string{"permessage-deflate; client_max_window_bits"}, ct,
			"permessage-deflate", deflateConfig{true, 15, true, 15}},
		{"client hints its window", []string{"permessage-deflate; client_max_window_bits=10"}, ct,
			"permessage-deflate", deflateConfig{true, 15, true, 10}},
		{"server window requested", []string{"permessage-deflate; server_max_window_bits=9"}, ct,
			"permessage-deflate; server_max_window_bits=9", deflateConfig{true, 9, true, 15}},
		{"server window 8", []string{"permessage-deflate; server_max_window_bits=8"}, noCT,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8", deflateConfig{false, 8, false, 15}},
		{"server no takeover requested", []string{"permessage-deflate; server_no_context_takeover"}, ct,
			"permessage-deflate; server_no_context_takeover", deflateConfig{false, 15, true, 15}},
		{"client no takeover announced", []string{"permessage-deflate; client_no_context_takeover"}, ct,
			"permessage-deflate; client_no_context_takeover", deflateConfig{true, 15, false, 15}},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="12"`}, ct,
			"permessage-deflate; server_max_window_bits=12", deflateConfig{true, 12, true, 15}},
		{"first acceptable of several", []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, ct,
			"permessage-deflate; server_max_window_bits=10", deflateConfig{true, 10, true, 15}},
		{"invalid first offer skipped", []string{"permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits"}, ct,
			"permessage-deflate", deflateConfig{true, 15, true, 15}},
		{"offers in two headers", []string{"permessage-deflate; foo", "permessage-deflate; server_max_window_bits=11"}, ct,
			"permessage-deflate; server_max_window_bits=11", deflateConfig{true, 11, true, 15}},
		{"unknown parameter", []string{"permessage-deflate; foo"}, ct, "", deflateConfig{}},
		{"duplicate parameter", []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, ct, "", deflateConfig{}},
		{"duplicate window", []string{"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}, ct, "", deflateConfig{}},
		{"window too small", []string{"permessage-deflate; server_max_window_bits=7"}, ct, "", deflateConfig{}},
		{"window too large", []string{"permessage-deflate; client_max_window_bits=16"}, ct, "", deflateConfig{}},
		{"leading zero", []string{"permessage-deflate; server_max_window_bits=010"}, ct, "", deflateConfig{}},
		{"server window without value", []string{"permessage-deflate; server_max_window_bits"}, ct, "", deflateConfig{}},
		{"value on a flag", []string{"permessage-deflate; client_no_context_takeover=1"}, ct, "", deflateConfig{}},
		{"case-insensitive name", []string{"PerMessage-Deflate"}, ct, "permessage-deflate", deflateConfig{true, 15, true, 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts, _ := parseExtensions(extHeader(tt.offers...))
			resp, cfg, ok := negotiateDeflate(exts, tt.mode)
			if ok != (tt.resp != "") || resp != tt.resp || cfg != tt.cfg {
				t.Fatalf("negotiate(%q, %v) = %q, %+v, %v; want %q, %+v", tt.offers, tt.mode, resp, cfg, ok, tt.resp, tt.cfg)
			}
			if !ok {
				return
			}
			// The client that made the first accepted offer must
			// accept the response and agree on the configuration.
			rexts, rok := parseExtensions(extHeader(resp))
			if !rok {
				t.Fatalf("response %q does not parse", resp)
			}
			ccfg, accepted, err := acceptDeflateResponse(rexts, CompressionContextTakeover)
			if err != nil || !accepted {
				t.Fatalf("client refused response %q: %v", resp, err)
			}
			if ccfg.readBits != cfg.writeBits || ccfg.readTakeover != cfg.writeTakeover {
				t.Fatalf("client reads with %+v, server writes with %+v", ccfg, cfg)
			}
		})
	}
}

func TestAcceptDeflateResponse(t *testing.T) {
	tests := []struct {
		name    string
		resp    []string
		mode    CompressionMode
		cfg     deflateConfig
		ok      bool
		wantErr bool
	}{
		{"declined", nil, CompressionContextTakeover, deflateConfig{}, false, false},
		{"not offered", []string{"permessage-deflate"}, CompressionDisabled, deflateConfig{}, false, true},
		{"plain", []string{"permessage-deflate"}, CompressionContextTakeover, deflateConfig{true, 15, true, 15}, true, false},
		{"python server", []string{"permessage-deflate; server_max_window_bits=12"}, CompressionContextTakeover, deflateConfig{true, 15, true, 12}, true, false},
		{"client window imposed", []string{"permessage-deflate; client_max_window_bits=9"}, CompressionContextTakeover, deflateConfig{true, 9, true, 15}, true, false},
		{"client no takeover imposed", []string{"permessage-deflate; client_no_context_takeover"}, CompressionContextTakeover, deflateConfig{false, 15, true, 15}, true, false},
		{"no takeover both", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, CompressionNoContextTakeover, deflateConfig{false, 15, false, 15}, true, false},
		{"offered server_no_context_takeover missing", []string{"permessage-deflate"}, CompressionNoContextTakeover, deflateConfig{}, false, true},
		{"unknown extension", []string{"x-foo"}, CompressionContextTakeover, deflateConfig{}, false, true},
		{"two extensions", []string{"permessage-deflate, permessage-deflate"}, CompressionContextTakeover, deflateConfig{}, false, true},
		{"unknown parameter", []string{"permessage-deflate; foo"}, CompressionContextTakeover, deflateConfig{}, false, true},
		{"window without value", []string{"permessage-deflate; client_max_window_bits"}, CompressionContextTakeover, deflateConfig{}, false, true},
		{"window out of range", []string{"permessage-deflate; server_max_window_bits=16"}, CompressionContextTakeover, deflateConfig{}, false, true},
		{"duplicate", []string{"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"}, CompressionContextTakeover, deflateConfig{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts, _ := parseExtensions(extHeader(tt.resp...))
			cfg, ok, err := acceptDeflateResponse(exts, tt.mode)
			if (err != nil) != tt.wantErr || ok != tt.ok || cfg != tt.cfg {
				t.Fatalf("acceptDeflateResponse(%q, %v) = %+v, %v, %v; want %+v, %v, error %v", tt.resp, tt.mode, cfg, ok, err, tt.cfg, tt.ok, tt.wantErr)
			}
		})
	}
}
