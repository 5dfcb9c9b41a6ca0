// Package logsql compiles the tenant-log query language (the AST of
// internal/eventlog/query) to a SQL boolean expression over the logs table
// that both backends share, in the SQLite or the PostgreSQL dialect. Values
// are always bound parameters, never part of the SQL text.
//
// The logs table has the columns of store.LogColumns (id for log_id, date in
// Unix milliseconds, is_mobile a boolean, text columns, and the JSON objects
// details and auth0_client, NULL when absent); columns.go derives the
// backends' column list, insert values and scan destinations from the same
// table. Text columns are NOT NULL, the empty string standing for an absent
// field, and compare byte by byte (SQLite's BINARY collation; COLLATE "C" on
// PostgreSQL).
//
// How terms compile: Exact and Phrase are equality; Prefix is a range
// [v, v+0xFF) on SQLite (index-friendly, case sensitive) and LIKE 'v%' on
// PostgreSQL; Contains is instr() on SQLite and LIKE '%v%' on PostgreSQL
// (served there by a pg_trgm index on description when one exists);
// Suffix and Wildcard are GLOB on SQLite (its LIKE ignores ASCII case) and
// LIKE on PostgreSQL, with the metacharacters of values escaped. A bare
// term is an OR over query.DefaultFields.
//
// Where this differs from Auth0's (Elasticsearch's) behaviour, by choice:
//   - details.* and auth0_client.* paths: an exact true, false or number
//     also matches a JSON boolean or number of that value; prefixes,
//     wildcards and ranges compare string values only; arrays are not
//     searched element by element.
//   - Fields a stored event never has (organization_id, tenant_name,
//     location_info.*, security_context.*, references.*, ...) never match,
//     and _exists_ on them is false; log_id, date and isMobile always exist.
//   - Ranges on fields other than date compare UTF-8 bytes.
//   - Date bounds are also turned into bounds on id, relying on the
//     contract that ID order is date order (see DateFrom).
package logsql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// Dialect is the SQL dialect to compile to.
type Dialect int

const (
	// SQLite: '?n' placeholders, GLOB and instr for patterns, json_* functions.
	SQLite Dialect = iota
	// Postgres: '$n' placeholders, LIKE for patterns, jsonb operators.
	Postgres
)

// Limits on a hand-built AST (the parser already keeps within tighter ones).
const (
	maxDepth  = 64
	maxLeaves = 256
)

// Fields of the query language that no column holds (organization_id,
// tenant_name, ...) are never present in a stored event: store.LogColumns
// maps the rest to their columns.

// scalarColumn returns the column of a query field that is not an object;
// false when no column holds it.
func scalarColumn(field string) (store.LogColumn, bool) {
	c, ok := store.LogColumnOf(field)
	return c, ok && c.Kind != store.LogObject
}

// objectColumn returns the column of an object field (details,
// auth0_client); false when no column holds it.
func objectColumn(field string) (string, bool) {
	c, ok := store.LogColumnOf(field)
	return c.Column, ok && c.Kind == store.LogObject
}

// SortColumn returns the column that sorting by field (empty: date) orders
// by: the field's own, but id for date, whose order is date order; ok is
// false for a field that cannot be sorted by (one not in
// store.LogSortFields).
func SortColumn(field string) (col string, ok bool) {
	if field == "" {
		field = "date"
	}
	c, ok := scalarColumn(field)
	if !ok || !slices.Contains(store.LogSortFields, field) {
		return "", false
	}
	if c.Kind == store.LogDate {
		return "id", true
	}
	return c.Column, true
}

// Query is a compiled condition: SQL text with placeholders and the values
// they bind, in order.
type Query struct {
	d    Dialect
	b    strings.Builder
	Args []any
	// leaves counts the terms compiled, against maxLeaves.
	leaves int
}

// New starts a statement in dialect d; Where, Arg and Raw append to it.
func New(d Dialect) *Query { return &Query{d: d} }

// SQL is the text written so far.
func (q *Query) SQL() string { return q.b.String() }

// Raw appends SQL text.
func (q *Query) Raw(s string) *Query {
	q.b.WriteString(s)
	return q
}

// Arg appends a placeholder bound to v.
func (q *Query) Arg(v any) *Query {
	q.Args = append(q.Args, v)
	// Numbered placeholders, so that an expression written twice (a JSON
	// path with two bounds) reuses its arguments.
	if q.d == Postgres {
		q.b.WriteString("$" + strconv.Itoa(len(q.Args)))
	} else {
		q.b.WriteString("?" + strconv.Itoa(len(q.Args)))
	}
	return q
}

// Where appends the condition that n compiles to (TRUE for nil). The
// condition is never NULL, so NOT works on every part of it.
func (q *Query) Where(n query.Node) error {
	if n == nil {
		q.Raw(q.bool(true))
		return nil
	}
	q.Raw("(")
	if err := q.node(n, 0); err != nil {
		return fmt.Errorf("logsql: %w", err)
	}
	q.Raw(")")
	return nil
}

func (q *Query) bool(v bool) string {
	switch {
	case q.d == Postgres && v:
		return "TRUE"
	case q.d == Postgres:
		return "FALSE"
	case v:
		return "1"
	}
	return "0"
}

func (q *Query) node(n query.Node, depth int) error {
	if depth > maxDepth {
		return errors.New("query is nested too deeply")
	}
	switch n := n.(type) {
	case query.And:
		return q.list(n.Nodes, " AND ", depth)
	case query.Or:
		return q.list(n.Nodes, " OR ", depth)
	case query.Not:
		if n.X == nil {
			return errors.New("NOT without an operand")
		}
		q.Raw("NOT (")
		if err := q.node(n.X, depth+1); err != nil {
			return err
		}
		q.Raw(")")
		return nil
	case query.Term:
		if err := q.leaf(); err != nil {
			return err
		}
		if n.Field == "" {
			fields := query.DefaultFields()
			q.Raw("(")
			for i, f := range fields {
				if i > 0 {
					q.Raw(" OR ")
				}
				t := n
				t.Field = f
				if err := q.term(t); err != nil {
					return err
				}
			}
			q.Raw(")")
			return nil
		}
		return q.term(n)
	case query.Range:
		if err := q.leaf(); err != nil {
			return err
		}
		return q.rangeOf(n)
	case query.Exists:
		if err := q.leaf(); err != nil {
			return err
		}
		return q.exists(n.Field)
	case nil:
		return errors.New("empty operand")
	}
	return fmt.Errorf("unknown node %T", n)
}

func (q *Query) leaf() error {
	q.leaves++
	if q.leaves > maxLeaves {
		return errors.New("too many terms")
	}
	return nil
}

func (q *Query) list(nodes []query.Node, op string, depth int) error {
	if len(nodes) == 0 {
		return errors.New("empty AND or OR")
	}
	q.Raw("(")
	for i, c := range nodes {
		if i > 0 {
			q.Raw(op)
		}
		if err := q.node(c, depth+1); err != nil {
			return err
		}
	}
	q.Raw(")")
	return nil
}

// term compiles a term on a named field.
func (q *Query) term(t query.Term) error {
	if root, path, ok := strings.Cut(t.Field, "."); ok {
		col, known := objectColumn(root)
		if !known || !query.ValidField(t.Field) {
			q.Raw(q.bool(false))
			return nil
		}
		return q.jsonTerm(col, strings.Split(path, "."), t)
	}
	c, known := scalarColumn(t.Field)
	col := c.Column
	switch {
	case !known:
		q.Raw(q.bool(false))
		return nil
	case c.Kind == store.LogDate:
		if t.Kind != query.Exact && t.Kind != query.Phrase {
			return errors.New("wildcards are not supported on date")
		}
		return q.dateRange(query.Range{Field: t.Field, Lo: t.Value, Hi: t.Value, LoInclusive: true, HiInclusive: true})
	case c.Kind == store.LogBool:
		switch {
		case t.Kind != query.Exact && t.Kind != query.Phrase:
			q.Raw(q.bool(false))
		case t.Value == "true":
			q.Raw(col)
		case t.Value == "false":
			q.Raw("NOT " + col)
		default:
			q.Raw(q.bool(false))
		}
		return nil
	}
	if q.d == SQLite && col == "description" && (t.Kind == query.Suffix || t.Kind == query.Contains || t.Kind == query.Wildcard) {
		// No index serves *word* on the events, but descriptions repeat:
		// match the pattern against the dictionary of distinct ones
		// (log_descriptions), then find the events by the index on
		// description.
		q.Raw("description IN (SELECT description FROM log_descriptions WHERE ")
		q.pattern("description", t)
		q.Raw(")")
		return nil
	}
	if t.Kind == query.Prefix && q.d == SQLite && c.FewValues {
		// A prefix of a field with few distinct values matches a large
		// share of the events: walking the field's index and sorting them
		// all costs far more than walking the log in date order and
		// stopping at the page's end, so keep SQLite off the index.
		col = "+" + col
	}
	q.pattern(col, t)
	return nil
}

// pattern compiles the comparison of the text expression expr with t.
func (q *Query) pattern(expr string, t query.Term) {
	switch t.Kind {
	case query.Exact, query.Phrase:
		q.Raw(expr + " = ").Arg(t.Value)
	case query.Prefix:
		if q.d == Postgres {
			q.Raw(expr + " LIKE ").Arg(likeEscape(t.Value) + "%")
			return
		}
		// Every text starting with v lies in [v, v+0xFF): 0xFF never occurs
		// in UTF-8. A range keeps an index on expr usable.
		q.Raw(expr + " >= ").Arg(t.Value).Raw(" AND " + expr + " < ").Arg(t.Value + "\xff")
	case query.Suffix:
		q.patternParts(expr, []string{"", t.Value})
	case query.Contains:
		if q.d == SQLite {
			q.Raw("instr(" + expr + ", ").Arg(t.Value).Raw(") > 0")
			return
		}
		q.patternParts(expr, []string{"", t.Value, ""})
	case query.Wildcard:
		q.patternParts(expr, t.Parts)
	default:
		q.Raw(q.bool(false))
	}
}

// patternParts matches expr against parts joined by "any characters":
// GLOB on SQLite (case sensitive, unlike its LIKE), LIKE on PostgreSQL.
func (q *Query) patternParts(expr string, parts []string) {
	var b strings.Builder
	for i, p := range parts {
		if q.d == Postgres {
			if i > 0 {
				b.WriteByte('%')
			}
			b.WriteString(likeEscape(p))
		} else {
			if i > 0 {
				b.WriteByte('*')
			}
			b.WriteString(globEscape(p))
		}
	}
	if q.d == Postgres {
		q.Raw(expr + " LIKE ").Arg(b.String())
	} else {
		q.Raw(expr + " GLOB ").Arg(b.String())
	}
}

// likeEscape escapes PostgreSQL LIKE's metacharacters (the escape character
// is the default backslash).
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// globEscape makes s literal in a SQLite GLOB pattern: '*', '?' and '['
// become one-character classes (']' alone is literal).
func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `[*]`, `?`, `[?]`, `[`, `[[]`)
	return r.Replace(s)
}

// jsonTerm compiles a term on a path below an object column. Text
// comparisons apply to string values; an exact true/false or number also
// matches a JSON boolean or number of that value.
func (q *Query) jsonTerm(col string, path []string, t query.Term) error {
	q.Raw("coalesce((")
	q.pattern(q.jsonText(col, path), t)
	if t.Kind == query.Exact || t.Kind == query.Phrase {
		q.jsonScalar(col, path, t.Value)
	}
	q.Raw("), " + q.bool(false) + ")")
	return nil
}

// jsonText is an expression for the string at path in col, NULL when the
// value is absent or not a string.
func (q *Query) jsonText(col string, path []string) string {
	sub := New(q.d)
	sub.Args = q.Args
	if q.d == Postgres {
		sub.Raw("(CASE WHEN jsonb_typeof(" + col + " #> ").Arg(path).
			Raw(") = 'string' THEN (" + col + " #>> ").Arg(path).Raw(`) COLLATE "C" END)`)
	} else {
		p := sqlitePath(path)
		sub.Raw("(CASE WHEN json_type(" + col + ", ").Arg(p).
			Raw(") = 'text' THEN json_extract(" + col + ", ").Arg(p).Raw(") END)")
	}
	q.Args = sub.Args
	return sub.SQL()
}

// jsonScalar appends " OR <the value at path is the boolean or number v>"
// when v spells one.
func (q *Query) jsonScalar(col string, path []string, v string) {
	switch {
	case v == "true" || v == "false":
		if q.d == Postgres {
			q.Raw(" OR " + col + " #> ").Arg(path).Raw(" = ").Arg(v).Raw("::text::jsonb")
		} else {
			q.Raw(" OR json_type(" + col + ", ").Arg(sqlitePath(path)).Raw(") = ").Arg(v)
		}
	case isNumber(v):
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) {
			return
		}
		if q.d == Postgres {
			// CASE, not AND: PostgreSQL may evaluate a cast before a guard.
			q.Raw(" OR (CASE WHEN jsonb_typeof(" + col + " #> ").Arg(path).Raw(") = 'number' THEN (" + col + " #>> ").Arg(path).
				Raw(")::numeric END) = ").Arg(v).Raw("::text::numeric")
		} else {
			p := sqlitePath(path)
			q.Raw(" OR (json_type(" + col + ", ").Arg(p).Raw(") IN ('integer', 'real') AND json_extract(" + col + ", ").
				Arg(p).Raw(") = ").Arg(f).Raw(")")
		}
	}
}

// isNumber reports whether v is a JSON number.
func isNumber(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	var n json.Number
	d := json.NewDecoder(strings.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		return false
	}
	if d.More() || string(n) != v {
		return false
	}
	// Only numbers both databases can hold: PostgreSQL's numeric refuses
	// exponents beyond its range (1e-99999), and a float that overflows or
	// underflows to zero would match the wrong values anyway.
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) {
		return false
	}
	return f != 0 || strings.Trim(strings.SplitN(strings.ToLower(v), "e", 2)[0], "-+0.") == ""
}

// sqlitePath is the SQLite JSON path of the keys, each quoted (keys are
// runs of letters, digits, '_' and '-', as query.ValidField checks).
func sqlitePath(path []string) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, k := range path {
		b.WriteString(`."`)
		b.WriteString(k)
		b.WriteByte('"')
	}
	return b.String()
}

// rangeOf compiles a range. On date the bounds name periods (see
// query.Range); elsewhere they compare as strings.
func (q *Query) rangeOf(r query.Range) error {
	var expr string
	if root, path, ok := strings.Cut(r.Field, "."); ok {
		col, known := objectColumn(root)
		if !known || !query.ValidField(r.Field) {
			q.Raw(q.bool(false))
			return nil
		}
		expr = q.jsonText(col, strings.Split(path, "."))
	} else {
		c, known := scalarColumn(r.Field)
		switch {
		case known && c.Kind == store.LogDate:
			return q.dateRange(r)
		case !known || c.Kind == store.LogBool:
			q.Raw(q.bool(false))
			return nil
		}
		expr = c.Column
	}
	q.Raw("coalesce((")
	q.Raw(q.bool(true))
	if r.Lo != "" {
		op := " > "
		if r.LoInclusive {
			op = " >= "
		}
		q.Raw(" AND " + expr + op).Arg(r.Lo)
	}
	if r.Hi != "" {
		op := " < "
		if r.HiInclusive {
			op = " <= "
		}
		q.Raw(" AND " + expr + op).Arg(r.Hi)
	}
	q.Raw("), " + q.bool(false) + ")")
	return nil
}

func (q *Query) dateRange(r query.Range) error {
	q.Raw("(" + q.bool(true))
	if r.Lo != "" {
		start, end, err := query.ParseDate(r.Lo)
		if err != nil {
			return fmt.Errorf("date %q: %w", r.Lo, err)
		}
		if !r.LoInclusive {
			start = end
		}
		q.Raw(" AND ")
		q.DateFrom(start)
	}
	if r.Hi != "" {
		start, end, err := query.ParseDate(r.Hi)
		if err != nil {
			return fmt.Errorf("date %q: %w", r.Hi, err)
		}
		if r.HiInclusive {
			start = end
		}
		q.Raw(" AND ")
		q.DateBefore(start)
	}
	q.Raw(")")
	return nil
}

// DateFrom appends the condition "the event is dated at or after t".
//
// It is also written as a bound on id, which orders as date does: id at or
// after the first ID dated at or after t, found on the (date, id) index.
// The planner then walks the id index in the page's order within the range
// instead of sorting every event of the period. The date comparison stays
// as a guard, which also rejects everything when no event is that late.
func (q *Query) DateFrom(t time.Time) {
	ms := CeilMS(t)
	if q.d == SQLite {
		// A BLOB sorts after every TEXT: no event dated that late, no match.
		q.Raw("(+date >= ").Arg(ms).
			Raw(" AND id >= coalesce((SELECT id FROM logs WHERE date >= ").Arg(ms).
			Raw(" ORDER BY date, id LIMIT 1), x''))")
		return
	}
	q.Raw("(date >= ").Arg(ms).
		Raw(" AND id >= coalesce((SELECT id FROM logs WHERE date >= ").Arg(ms).
		Raw(" ORDER BY date, id LIMIT 1), (SELECT max(id) FROM logs)))")
}

// DateBefore appends the condition "the event is dated before t", also as a
// bound on id (see DateFrom): at or before the last ID dated before t.
func (q *Query) DateBefore(t time.Time) {
	ms := CeilMS(t)
	date := "date"
	if q.d == SQLite {
		date = "+date"
	}
	q.Raw("(" + date + " < ").Arg(ms).
		Raw(" AND id <= coalesce((SELECT id FROM logs WHERE date < ").Arg(ms).
		Raw(" ORDER BY date DESC, id DESC LIMIT 1), ''))")
}

// CeilMS is t in Unix milliseconds, rounded up: a stored date d (in ms) is
// >= t exactly when d >= CeilMS(t), and < t exactly when d < CeilMS(t).
func CeilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// exists compiles an existence test.
func (q *Query) exists(field string) error {
	if col, ok := objectColumn(field); ok {
		q.Raw(col + " IS NOT NULL")
		return nil
	}
	if root, path, ok := strings.Cut(field, "."); ok {
		col, known := objectColumn(root)
		if !known || !query.ValidField(field) {
			q.Raw(q.bool(false))
			return nil
		}
		keys := strings.Split(path, ".")
		if q.d == Postgres {
			q.Raw("coalesce(jsonb_typeof(" + col + " #> ").Arg(keys).Raw(") <> 'null', FALSE)")
		} else {
			q.Raw("coalesce(json_type(" + col + ", ").Arg(sqlitePath(keys)).Raw(") <> 'null', 0)")
		}
		return nil
	}
	c, known := scalarColumn(field)
	switch {
	case !known:
		q.Raw(q.bool(false))
	case c.Kind != store.LogText:
		q.Raw(q.bool(true)) // every event has its ID, date and isMobile
	default:
		q.Raw(c.Column + " <> ''")
	}
	return nil
}

// Object is a JSON object column's value to store: nil (SQL NULL) for an
// absent or null value, else the compacted JSON text. Anything other than a
// JSON object or null is an error.
func Object(raw json.RawMessage) (*string, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, errors.New("not a JSON object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, trimmed); err != nil {
		return nil, fmt.Errorf("compact JSON: %w", err)
	}
	s := b.String()
	return &s, nil
}

// Sortable lists the fields of store.LogSortFields this package maps, for a
// test that the two stay in step.
func Sortable() []string {
	out := []string{}
	for _, c := range columns {
		if _, ok := SortColumn(c.Field); ok {
			out = append(out, c.Field)
		}
	}
	slices.Sort(out)
	return out
}
