package store_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// TestLogColumnsCoverLogEvent checks the log column table against the
// record it describes: every field of LogEvent is one column's, pointed to
// with the type its kind says; names are unique; the query language knows
// every field with the type the column has (dates and isMobile refuse
// wildcards, isMobile ranges too); the sort fields are columns.
func TestLogColumnsCoverLogEvent(t *testing.T) {
	var e store.LogEvent
	ev := reflect.ValueOf(&e).Elem()
	owner := map[uintptr]string{}
	cols, fields := map[string]bool{}, map[string]bool{}
	kinds := map[store.LogKind][]string{}
	for _, c := range store.LogColumns() {
		if c.Column == "" || c.Field == "" || cols[c.Column] || fields[c.Field] {
			t.Errorf("column %q field %q: empty or repeated", c.Column, c.Field)
		}
		cols[c.Column], fields[c.Field] = true, true
		kinds[c.Kind] = append(kinds[c.Kind], c.Column)
		p := c.Ref(&e)
		var ok bool
		switch c.Kind {
		case store.LogText, store.LogID:
			_, ok = p.(*string)
		case store.LogDate:
			_, ok = p.(*time.Time)
		case store.LogBool:
			_, ok = p.(*bool)
		case store.LogObject:
			_, ok = p.(*json.RawMessage)
		}
		if !ok {
			t.Errorf("%s: kind %d but field type %T", c.Column, c.Kind, p)
			continue
		}
		addr := reflect.ValueOf(p).Pointer()
		if other, dup := owner[addr]; dup {
			t.Errorf("%s and %s point to one field", other, c.Column)
		}
		owner[addr] = c.Column
		if got, ok := store.LogColumnOf(c.Field); !ok || got.Column != c.Column {
			t.Errorf("LogColumnOf(%q) = %q, %v", c.Field, got.Column, ok)
		}

		switch c.Kind {
		case store.LogObject:
			if !slices.Contains(query.ObjectFields(), c.Field) {
				t.Errorf("%s: the query language has no object field %q", c.Column, c.Field)
			}
			if _, err := query.Parse(c.Field + ".key:value"); err != nil {
				t.Errorf("%s: %v", c.Column, err)
			}
			continue
		default:
			if !query.ValidField(c.Field) {
				t.Errorf("%s: the query language has no field %q", c.Column, c.Field)
			}
		}
		_, wildErr := query.Parse(c.Field + ":abc*")
		_, rangeErr := query.Parse(c.Field + ":[2020 TO 2021]")
		if (wildErr != nil) != (c.Kind == store.LogDate || c.Kind == store.LogBool) || (rangeErr != nil) != (c.Kind == store.LogBool) {
			t.Errorf("%s (kind %d): the query language answers %v and %v for a wildcard and a range", c.Field, c.Kind, wildErr, rangeErr)
		}
	}
	for i := range ev.NumField() {
		if _, ok := owner[ev.Field(i).Addr().Pointer()]; !ok {
			t.Errorf("LogEvent.%s has no column", ev.Type().Field(i).Name)
		}
	}
	// The compilers' date bounds and ID order use these names.
	if !slices.Equal(kinds[store.LogID], []string{"id"}) || !slices.Equal(kinds[store.LogDate], []string{"date"}) {
		t.Errorf("ID columns %q, date columns %q; want id and date", kinds[store.LogID], kinds[store.LogDate])
	}
	for _, f := range store.LogSortFields {
		if c, ok := store.LogColumnOf(f); !ok || c.Kind == store.LogObject {
			t.Errorf("sort field %q is not a scalar column", f)
		}
	}
	if _, ok := store.LogColumnOf("organization_id"); ok {
		t.Error("a column for a field events do not have")
	}
}
