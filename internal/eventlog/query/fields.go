package query

import (
	"slices"
	"strings"
)

// existsField is the pseudo-field of an existence test: _exists_:field.
const existsField = "_exists_"

// Limits on dotted field paths such as details.request.method.
const (
	// MaxFieldLength caps the length of a field name in bytes.
	MaxFieldLength = 128
	// MaxPathDepth caps the number of path segments below an object field.
	MaxPathDepth = 8
)

// scalarFields are the record fields (auth0-compat.md §9.2) a term can name
// directly. The first sixteen are the ones Auth0 documents as searchable; the
// rest are other top-level scalars of a log record.
var scalarFields = []string{
	"client_id", "client_name", "connection", "connection_id", "date",
	"description", "hostname", "ip", "log_id", "organization_id", "strategy",
	"strategy_type", "type", "user_agent", "user_id", "user_name",

	"audience", "client_ip", "environment_name", "identity_user_id",
	"isMobile", "organization_name", "scope", "tenant_name",
}

// objectFields are the record fields holding objects. A term names a path
// below one (details.request.method); an existence test may also name the
// object itself (_exists_:details).
var objectFields = []string{
	"auth0_client", "details", "location_info", "references", "security_context",
}

// defaultFields are the fields Auth0 matches a bare term (one without a
// field name) against.
var defaultFields = []string{
	"client_name", "connection", "description", "ip", "log_id", "type", "user_name",
}

// Fields returns the scalar fields a term can name, sorted.
func Fields() []string {
	f := slices.Clone(scalarFields)
	slices.Sort(f)
	return f
}

// ObjectFields returns the object fields, sorted. Terms name paths below them,
// such as details.request.method, with any keys.
func ObjectFields() []string { return slices.Clone(objectFields) }

// DefaultFields returns the fields a bare term is matched against, sorted.
func DefaultFields() []string { return slices.Clone(defaultFields) }

// ValidField reports whether a term or range may name the field: one of
// Fields, or a dotted path below one of ObjectFields whose segments are
// non-empty runs of ASCII letters, digits, '_' and '-' (at most MaxPathDepth
// of them, and MaxFieldLength bytes in all).
func ValidField(name string) bool {
	if slices.Contains(scalarFields, name) {
		return true
	}
	root, path, ok := strings.Cut(name, ".")
	return ok && slices.Contains(objectFields, root) && validPath(path) &&
		len(name) <= MaxFieldLength
}

// validExistsField reports whether _exists_ may name the field: any valid
// field, or an object field itself.
func validExistsField(name string) bool {
	return ValidField(name) || slices.Contains(objectFields, name)
}

func validPath(path string) bool {
	segs := strings.Split(path, ".")
	if len(segs) > MaxPathDepth {
		return false
	}
	for _, s := range segs {
		if s == "" {
			return false
		}
		for _, c := range []byte(s) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}
