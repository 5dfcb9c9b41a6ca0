package logsql

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

// fakeRow scans values as a driver would: into the destinations' types,
// NULL into a nil pointer.
type fakeRow []any

func (r fakeRow) Scan(dest ...any) error {
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = r[i].(string)
		case *bool:
			*d = r[i].(bool)
		case *int64:
			*d = r[i].(int64)
		case **string:
			*d = r[i].(*string)
		}
	}
	return nil
}

// TestColumnStatements: the insert statement binds one value per column,
// Values gives them in ColumnList's order and a Row reads them back into
// the same event, for every column of the table.
func TestColumnStatements(t *testing.T) {
	n := len(store.LogColumns())
	if got := strings.Count(ColumnList(), ",") + 1; got != n {
		t.Errorf("ColumnList has %d columns, the table %d", got, n)
	}
	if got := strings.Count(InsertQuery(SQLite), "?"); got != n {
		t.Errorf("SQLite insert binds %d values", got)
	}
	if q := InsertQuery(Postgres); !strings.Contains(q, "$"+strconv.Itoa(n)+")") || strings.Contains(q, "$"+strconv.Itoa(n+1)) {
		t.Errorf("PostgreSQL insert %s", q)
	}
	var e store.LogEvent
	for _, c := range store.LogColumns() {
		switch p := c.Ref(&e).(type) {
		case *string:
			*p = "v-" + c.Field
		case *bool:
			*p = true
		case *time.Time:
			*p = time.Date(2025, 6, 21, 12, 0, 0, 123e6, time.UTC)
		case *json.RawMessage:
			*p = json.RawMessage(`{ "k": "v" }`)
		}
	}
	vals, err := Values(&e)
	if err != nil || len(vals) != n {
		t.Fatalf("Values: %d, %v", len(vals), err)
	}
	row := NewRow()
	for _, ev := range []store.LogEvent{e, {ID: "x"}} {
		vals, err := Values(&ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := row.Scan(fakeRow(vals))
		if err != nil {
			t.Fatal(err)
		}
		want := ev
		want.Date = want.Date.UTC()
		if want.Details != nil {
			want.Details, want.Auth0Client = json.RawMessage(`{"k":"v"}`), json.RawMessage(`{"k":"v"}`)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("event %s (-want +got):\n%s", ev.ID, diff)
		}
	}
	e.Auth0Client = json.RawMessage(`[1]`)
	if _, err := Values(&e); err == nil || err.Error() != "event v-log_id: auth0_client: not a JSON object" {
		t.Errorf("bad object: %v", err)
	}
}
