// Package clientinfo turns what a client says about itself into the values
// Auth0 records in tenant logs: the decoded Auth0-Client telemetry header
// (the auth0_client log field) and the parsed User-Agent ("Chrome 120.0.0 /
// Mac OS X 10.15.7", the user_agent field) together with isMobile.
//
// See clients.md §0 item 7 and auth0-compat.md §9.2, §11.1 and §11.2. The
// functions are pure, bounded in the work they do, and never fail loudly:
// telemetry must never be the reason a request is rejected.
package clientinfo

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits applied by DecodeAuth0Client.
const (
	// MaxHeaderLength is the longest Auth0-Client value, in bytes, that is
	// decoded at all; longer values are ignored.
	MaxHeaderLength = 2048
	// MaxFieldLength caps Name, Version and each Env value, in bytes.
	// Longer values are cut at a rune boundary; longer Env keys are dropped.
	MaxFieldLength = 64
	// MaxEnvEntries caps the number of Env entries kept. When there are
	// more, the first ones in sorted key order are kept.
	MaxEnvEntries = 10
)

// Client is the decoded Auth0-Client telemetry value, for example
// {"name":"go-auth0","version":"1.10.0","env":{"go":"go1.26"}}.
type Client struct {
	// Name is the SDK name, such as "auth0.js", "auth0.js-ulp" or "go-auth0".
	Name string `json:"name"`
	// Version is the SDK version; it may be empty.
	Version string `json:"version,omitempty"`
	// Env holds the string-valued entries of the "env" object (runtime and
	// wrapper versions); it is nil when there are none.
	Env map[string]string `json:"env,omitempty"`
}

// DecodeAuth0Client decodes the value of an Auth0-Client header or of the
// auth0Client query parameter (already URL-unescaped by the caller).
//
// It accepts standard base64 with or without padding, base64url with or
// without padding (auth0.js uses the URL alphabet but keeps the padding),
// surrounding whitespace, and, leniently, a bare JSON object. The JSON must
// be an object whose "name" is a non-empty string; "version" is kept when it
// is a string, and only string values of "env" are kept. Sizes are bounded
// by MaxHeaderLength, MaxFieldLength and MaxEnvEntries.
//
// It reports false, never panicking, for anything it cannot read.
func DecodeAuth0Client(header string) (Client, bool) {
	if len(header) > MaxHeaderLength {
		return Client{}, false
	}
	s := strings.TrimSpace(header)
	if s == "" {
		return Client{}, false
	}
	var raw []byte
	if s[0] == '{' {
		raw = []byte(s)
	} else {
		b, ok := decodeBase64(s)
		if !ok {
			return Client{}, false
		}
		raw = b
	}
	return parseClientJSON(raw)
}

// decodeBase64 decodes s in any of the standard and URL alphabets, with or
// without '=' padding.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, false
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return r
	}, s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

// wireClient is the JSON shape read; fields are decoded loosely so that a
// wrongly typed field is skipped rather than failing the whole value.
type wireClient struct {
	Name    json.RawMessage `json:"name"`
	Version json.RawMessage `json:"version"`
	Env     json.RawMessage `json:"env"`
}

func parseClientJSON(raw []byte) (Client, bool) {
	raw = []byte(strings.TrimSpace(string(raw)))
	if len(raw) == 0 || raw[0] != '{' {
		return Client{}, false
	}
	var w wireClient
	if err := json.Unmarshal(raw, &w); err != nil {
		return Client{}, false
	}
	name, ok := jsonString(w.Name)
	if !ok || name == "" {
		return Client{}, false
	}
	c := Client{Name: truncate(name, MaxFieldLength)}
	if v, ok := jsonString(w.Version); ok {
		c.Version = truncate(v, MaxFieldLength)
	}
	c.Env = parseEnv(w.Env)
	return c, true
}

// parseEnv keeps the string values of an env object, bounded in number and
// size; it returns nil when nothing is kept.
func parseEnv(raw json.RawMessage) map[string]string {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" && len(k) <= MaxFieldLength {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var env map[string]string
	for _, k := range keys {
		v, ok := jsonString(m[k])
		if !ok {
			continue
		}
		if env == nil {
			env = make(map[string]string)
		}
		env[k] = truncate(v, MaxFieldLength)
		if len(env) == MaxEnvEntries {
			break
		}
	}
	return env
}

// jsonString returns raw as a string when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
// encoding/json has already replaced invalid UTF-8 with U+FFFD.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
