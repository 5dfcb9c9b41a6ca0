package tenant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/secret"
)

// The tenant file is applied field by field. A field is a leaf of the file's
// JSON as the operator wrote it (objects are walked into; arrays, strings,
// numbers, booleans and null are leaves), so that what the file does not
// mention is not managed by it. Records are named by their natural key:
//
//	settings.flags.enforce_client_authentication_on_passwordless_start
//	clients[web-app].callbacks
//	connections[email].options.totp.length
//	resource_servers[https://api.example.com].token_lifetime
//	client_grants[ops https://login.example.com/api/v2/].scope
//
// The store keeps what the last applied file said of each field (and of
// each record as a whole) as a keyed hash of its canonical JSON, never the
// value. Apply compares the file with it: a field the file changed since
// then is applied; a field the file did not change but the store did (a
// change through the Management API or the CLI) is kept and reported as
// drift, unless ApplyOptions.Enforce.

// Why a field of the file was applied or left to the store.
const (
	WhyNew         = "new record"
	WhyUntracked   = "not applied before"
	WhyEdited      = "file changed"
	WhyKept        = "runtime change kept"
	WhyOverwritten = "runtime change overwritten"
	WhyDeletedKept = "deleted at runtime: not recreated"
	WhyRecreated   = "deleted at runtime: recreated"
)

// Field is one field of the tenant file (or one whole record) in the
// report of an apply.
type Field struct {
	// Path names the field (settings.flags.…, clients[web-app].callbacks)
	// or, for a whole record, the record (clients[web-app]).
	Path string `json:"path"`
	// File is the file's value and Store the store's before the apply
	// (null when it had none), as JSON; secrets are redacted and long values
	// shortened. Neither is given for a whole record.
	File  json.RawMessage `json:"file,omitempty"`
	Store json.RawMessage `json:"store,omitempty"`
	// Why is one of the Why* constants.
	Why string `json:"why"`
}

// FieldList is a list of fields that logs well: one line of text under a
// text handler, an array of objects under a JSON one.
type FieldList []Field

// MarshalText renders the list as "path: file=V store=V (why); …".
func (l FieldList) MarshalText() ([]byte, error) {
	var b strings.Builder
	for i, f := range l {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Path)
		if f.File != nil {
			fmt.Fprintf(&b, ": file=%s store=%s", f.File, f.Store)
		}
		fmt.Fprintf(&b, " (%s)", f.Why)
	}
	return []byte(b.String()), nil
}

// MarshalJSON renders the list as an array of Field objects.
func (l FieldList) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Field(l))
}

// Paths lists the paths of the fields.
func (l FieldList) Paths() []string {
	out := make([]string, len(l))
	for i, f := range l {
		out[i] = f.Path
	}
	return out
}

// leaf is one field of a record: its path inside the record and its value
// as decoded with json.Number.
type leaf struct {
	segs []string
	val  any
}

func (l leaf) rel() string { return strings.Join(l.segs, ".") }

// flatten lists the leaves of obj in path order. Objects are walked into
// except at the paths in opaque (values with keys of their own, like
// authParams); skip names top-level fields that are not fields (the
// record's natural key). An empty object states nothing.
func flatten(obj map[string]any, skip []string, opaque map[string]bool) []leaf {
	var out []leaf
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for _, k := range sortedKeys(m) {
			if len(prefix) == 0 && slices.Contains(skip, k) {
				continue
			}
			segs := append(slices.Clone(prefix), k)
			if sub, ok := m[k].(map[string]any); ok && !opaque[strings.Join(segs, ".")] {
				walk(segs, sub)
				continue
			}
			out = append(out, leaf{segs: segs, val: m[k]})
		}
	}
	walk(nil, obj)
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// canonicalKeys renames the object keys of v, a JSON value decoded into
// the type t, to the names of the fields of t they decode into
// (encoding/json matches names regardless of case), so that a field
// written "Max_Attempts" is the field max_attempts.
func canonicalKeys(t reflect.Type, v any) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for _, k := range sortedKeys(x) {
				if ft, ok := fields[k]; ok {
					out[k] = canonicalKeys(ft, x[k])
				}
			}
			for _, k := range sortedKeys(x) {
				if _, ok := fields[k]; ok {
					continue
				}
				name, ft := k, reflect.Type(nil)
				for n, f := range fields {
					if strings.EqualFold(n, k) {
						name, ft = n, f
						break
					}
				}
				if _, taken := out[name]; taken {
					continue
				}
				if ft == nil {
					out[name] = x[k]
				} else {
					out[name] = canonicalKeys(ft, x[k])
				}
			}
		case reflect.Map:
			for k, e := range x {
				out[k] = canonicalKeys(t.Elem(), e)
			}
		default:
			return v
		}
		return out
	case []any:
		if t.Kind() != reflect.Slice {
			return v
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonicalKeys(t.Elem(), e)
		}
		return out
	}
	return v
}

// jsonFields are the JSON names of the fields of struct type t (those of
// embedded structs included) and their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				maps.Copy(out, jsonFields(ft))
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// overlay returns a copy of doc with the leaves set, creating the objects
// on their way: copies of those at the same path in fill (the defaults an
// absent object stands for), or empty ones.
func overlay(doc, fill map[string]any, leaves ...leaf) map[string]any {
	out := deepCopy(doc).(map[string]any)
	for _, l := range leaves {
		m := out
		for i, k := range l.segs[:len(l.segs)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next, ok = deepCopy(lookup(fill, l.segs[:i+1])).(map[string]any)
				if !ok {
					next = map[string]any{}
				}
				m[k] = next
			}
			m = next
		}
		m[l.segs[len(l.segs)-1]] = deepCopy(l.val)
	}
	return out
}

// lookup returns the value at segs in doc, nil when there is none.
func lookup(doc map[string]any, segs []string) any {
	var v any = doc
	for _, k := range segs {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// toDoc is v's JSON as a generic object (numbers as json.Number).
func toDoc(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := decodeNumbers(b, &doc); err != nil {
		return nil, err
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, nil
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// fromDoc decodes a generic object into T strictly, as the file is decoded.
func fromDoc[T any](doc map[string]any) (T, error) {
	var v T
	b, err := json.Marshal(doc)
	if err != nil {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(&v)
	return v, err
}

// canonical is v's canonical JSON: object keys sorted, numbers in one form
// (5, 5.0 and 5e0 are alike), no HTML escaping.
func canonical(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(canonNumbers(v)); err != nil {
		// Values decoded from JSON always encode.
		return []byte("null")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func canonNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = canonNumbers(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = canonNumbers(e)
		}
		return s
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if f, err := x.Float64(); err == nil {
			if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return json.Number(strconv.FormatInt(int64(f), 10))
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return v
}

// isSecretField reports whether a field holds a secret that reports and
// logs must not show: client_secret, twilio_token,
// gateway_authentication.secret, and any *secret* or *_token field.
func isSecretField(path string) bool {
	return isSecretName(path[strings.LastIndexAny(path, ".]")+1:])
}

func isSecretName(name string) bool {
	return strings.Contains(name, "secret") || name == "token" || strings.HasSuffix(name, "_token")
}

// withoutSecrets is v with every secret field inside it, at any depth,
// redacted: a file or a store may state a whole object (an sms
// connection's gateway_authentication) whose parts are secrets.
func withoutSecrets(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if e != nil && isSecretName(k) {
				out[k] = "[redacted]"
			} else {
				out[k] = withoutSecrets(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutSecrets(e)
		}
		return out
	}
	return v
}

// maxShown bounds a value shown in a report (templates and login pages
// can be kilobytes long).
const maxShown = 120

var redacted = json.RawMessage(`"[redacted]"`)

// shown is v as a report shows it at path: redacted when the field is a
// secret (and set), shortened when long.
func shown(path string, v any) json.RawMessage {
	if v != nil && isSecretField(path) {
		return redacted
	}
	v = withoutSecrets(v)
	b := canonical(v)
	if len(b) <= maxShown {
		return b
	}
	s, ok := v.(string)
	if !ok {
		s = string(b)
	}
	r := []rune(s)
	if len(r) > maxShown/2 {
		r = r[:maxShown/2]
	}
	out, _ := json.Marshal(fmt.Sprintf("%s… (%d bytes)", string(r), len(b)))
	return out
}

// merger decides, field by field, whether the file or the store wins, and
// collects the report and the state to record.
type merger struct {
	keys    *secret.Keys
	enforce bool
	state   map[string][]byte // what the last applied files said
	next    map[string][]byte // what this file says
	// stated are the records this file states ("settings",
	// "clients[web]", …): the state of their fields the file no longer
	// states is forgotten, so that a field removed and later put back
	// counts as an edit of the file, not as unchanged.
	stated []string
	res    *Applied
}

// forgotten lists the recorded paths under a record the file states that
// it no longer states.
func (m *merger) forgotten() []string {
	var out []string
	for path := range m.state {
		if _, ok := m.next[path]; ok {
			continue
		}
		for _, rec := range m.stated {
			if path == rec || strings.HasPrefix(path, rec+".") {
				out = append(out, path)
				break
			}
		}
	}
	return out
}

// note records what the file says of path and returns its hash.
func (m *merger) note(path string, v any) []byte {
	h := m.keys.Hash("tenant_file", path, string(canonical(v)))
	m.next[path] = h
	return h
}

// decide is the verdict on a field (or record) the store disagrees with,
// h being the hash of the file's value: apply it or keep the store's, and
// whether the store's is a runtime change (drift).
func (m *merger) decide(path string, h []byte) (apply, drift bool, why string) {
	last, ok := m.state[path]
	switch {
	case !ok:
		return true, false, WhyUntracked
	case !secret.Equal(last, h):
		return true, false, WhyEdited
	case m.enforce:
		return true, true, WhyOverwritten
	default:
		return false, true, WhyKept
	}
}

// report files f under the fields applied and/or the drift.
func (m *merger) report(f Field, apply, drift bool) {
	if apply {
		m.res.Fields = append(m.res.Fields, f)
	}
	if drift {
		m.res.Drift = append(m.res.Drift, f)
	}
}

// mergeFields decides the leaves of one record of the file against the
// stored record in the file's shape (base; fill as for overlay) and
// returns those to apply.
// same reports whether a document builds into the same record as base:
// it compares built records, not JSON, so that a default written out, an
// empty list for a missing one or authParams as a string do not count as
// differences.
func (m *merger) mergeFields(prefix string, base, fill map[string]any, leaves []leaf, same func(map[string]any) bool) []leaf {
	var apply []leaf
	for _, l := range leaves {
		path := prefix + "." + l.rel()
		h := m.note(path, l.val)
		stored := lookup(base, l.segs)
		if bytes.Equal(canonical(pruned(l.val)), canonical(pruned(stored))) || same(overlay(base, fill, l)) {
			continue
		}
		ok, drift, why := m.decide(path, h)
		f := Field{Path: path, File: shown(path, l.val), Store: shown(path, stored), Why: why}
		if isSecretField(path) {
			f.Store = redacted // the store holds it as a hash only, and it differs
		}
		m.report(f, ok, drift)
		if ok {
			apply = append(apply, l)
		}
	}
	return apply
}

// recordKind is what merging needs to know of a kind of record.
type recordKind[S, R any] struct {
	section string
	// keyFields are the top-level fields that hold the natural key.
	keyFields []string
	// opaque are paths of objects that are single fields.
	opaque map[string]bool
	// specOf turns a stored record into the file's shape.
	specOf func(R) S
	// build builds a record from a spec, keeping what the store keeps of
	// old (ID, times, secret hash, credentials); generated is a client
	// secret it made up.
	build func(s S, old R) (r R, generated string, err error)
}

// mergedRecord is the outcome of merging one record of the file.
type mergedRecord[R any] struct {
	rec       R
	write     bool
	create    bool
	generated string
}

// mergeRecord merges one record of the file (raw as written, built from
// the file alone) with the stored one (old, when exists).
func mergeRecord[S, R any](m *merger, k recordKind[S, R], key string, raw map[string]any, built R, generated string, old R, exists bool) (mergedRecord[R], error) {
	path := k.section + "[" + key + "]"
	m.stated = append(m.stated, path)
	leaves := flatten(raw, k.keyFields, k.opaque)
	h := m.note(path, raw)
	if !exists {
		for _, l := range leaves {
			m.note(path+"."+l.rel(), l.val)
		}
		ok, drift, why := m.decide(path, h)
		switch {
		case why == WhyUntracked:
			why = WhyNew
		case why == WhyKept:
			why = WhyDeletedKept
		case drift:
			why = WhyRecreated
		}
		m.report(Field{Path: path, Why: why}, ok, drift)
		if !ok {
			return mergedRecord[R]{}, nil
		}
		return mergedRecord[R]{rec: built, write: true, create: true, generated: generated}, nil
	}

	baseSpec := k.specOf(old)
	base, err := toDoc(baseSpec)
	if err != nil {
		return mergedRecord[R]{}, fmt.Errorf("%s: encode the stored record: %w", path, err)
	}
	baseRec, _, err := k.build(baseSpec, old)
	if err != nil {
		baseRec = old // stored before a rule it breaks: compare with it as is
	}
	same := func(doc map[string]any) bool {
		s, err := fromDoc[S](doc)
		if err != nil {
			return false
		}
		r, _, err := k.build(s, old)
		return err == nil && sameRecord(r, baseRec)
	}
	apply := m.mergeFields(path, base, nil, leaves, same)
	if len(apply) == 0 {
		return mergedRecord[R]{rec: old}, nil
	}
	s, err := fromDoc[S](overlay(base, nil, apply...))
	if err != nil {
		return mergedRecord[R]{}, fmt.Errorf("%s: %w", path, err)
	}
	r, gen, err := k.build(s, old)
	if err != nil {
		return mergedRecord[R]{}, err
	}
	if sameRecord(r, old) {
		return mergedRecord[R]{rec: old}, nil
	}
	return mergedRecord[R]{rec: r, write: true, generated: gen}, nil
}

// sameRecord reports whether two records are alike, an empty list or
// object being as good as none (a record decoded from the store and one
// built from a spec differ there).
func sameRecord(a, b any) bool {
	da, errA := toDoc(a)
	db, errB := toDoc(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	return bytes.Equal(canonical(pruned(da)), canonical(pruned(db)))
}

// pruned drops the nulls, empty lists and empty objects of v.
func pruned(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			if e = pruned(e); e != nil {
				m[k] = e
			}
		}
		if len(m) == 0 {
			return nil
		}
		return m
	case []any:
		if len(x) == 0 {
			return nil
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = pruned(e)
		}
		return s
	}
	return v
}

// keptPaths lists the drift fields under prefix (for an error that a
// runtime change the store keeps may have caused).
func (m *merger) keptPaths(prefix string) []string {
	if m.enforce {
		return nil
	}
	var out []string
	for _, f := range m.res.Drift {
		if f.Path == prefix || strings.HasPrefix(f.Path, prefix+".") {
			out = append(out, f.Path)
		}
	}
	return out
}

// mergeError explains an error of a record merged with runtime changes.
func (m *merger) mergeError(field, prefix string, err error) error {
	if kept := m.keptPaths(prefix); len(kept) > 0 {
		return fmt.Errorf("%s.%w (with the runtime changes the store keeps: %s; apply --force makes the file win)", field, err, strings.Join(kept, ", "))
	}
	return fmt.Errorf("%s.%w", field, err)
}
