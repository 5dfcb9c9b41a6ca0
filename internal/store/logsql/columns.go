package logsql

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// columns is this package's copy of the column table (store.LogColumns),
// taken once so that no row copies it again.
var columns = store.LogColumns()

// ColumnList is the logs table's columns (store.LogColumns), comma
// separated, in order: what the backends select and insert.
func ColumnList() string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.Column
	}
	return strings.Join(names, ", ")
}

// InsertQuery is the statement that stores one event, its values bound in
// the order of Values; an event whose ID is already stored is skipped.
func InsertQuery(d Dialect) string {
	ph := make([]string, len(columns))
	for i := range ph {
		if d == Postgres {
			ph[i] = "$" + strconv.Itoa(i+1)
		} else {
			ph[i] = "?"
		}
	}
	return `INSERT INTO logs (` + ColumnList() + `) VALUES (` + strings.Join(ph, ", ") + `) ON CONFLICT (id) DO NOTHING`
}

// Values are e's column values for InsertQuery: the date in Unix
// milliseconds, JSON objects compacted (nil, SQL NULL, when absent). An
// object field holding anything but a JSON object or null is an error.
func Values(e *store.LogEvent) ([]any, error) {
	out := make([]any, 0, len(columns))
	for _, c := range columns {
		switch p := c.Ref(e).(type) {
		case *string:
			out = append(out, *p)
		case *bool:
			out = append(out, *p)
		case *time.Time:
			out = append(out, p.UnixMilli())
		case *json.RawMessage:
			v, err := Object(*p)
			if err != nil {
				return nil, fmt.Errorf("event %s: %s: %w", e.ID, c.Column, err)
			}
			out = append(out, v)
		default:
			return nil, fmt.Errorf("log column %s: unexpected field type %T", c.Column, p)
		}
	}
	return out, nil
}

// Row reads rows that select ColumnList into events. It keeps its scan
// destinations from row to row, so a query scans with one Row.
type Row struct {
	e     store.LogEvent // the text and boolean columns scan straight in here
	dest  []any
	temps []temp
}

// temp is a column scanned into a value of the database's own (Unix
// milliseconds, nullable JSON text) and converted after the scan.
type temp struct {
	col store.LogColumn
	v   any // *int64 or **string
}

// NewRow returns a Row for rows that select ColumnList.
func NewRow() *Row {
	r := &Row{}
	for _, c := range columns {
		switch p := c.Ref(&r.e).(type) {
		case *string, *bool:
			r.dest = append(r.dest, p)
		case *time.Time:
			v := new(int64)
			r.dest = append(r.dest, v)
			r.temps = append(r.temps, temp{c, v})
		case *json.RawMessage:
			v := new(*string)
			r.dest = append(r.dest, v)
			r.temps = append(r.temps, temp{c, v})
		default:
			panic(fmt.Sprintf("logsql: log column %s: unexpected field type %T", c.Column, p))
		}
	}
	return r
}

// Scanner is a row of a query's results (database/sql's and pgx's).
type Scanner interface {
	Scan(dest ...any) error
}

// Scan reads the row sc into an event.
func (r *Row) Scan(sc Scanner) (store.LogEvent, error) {
	if err := sc.Scan(r.dest...); err != nil {
		return store.LogEvent{}, err
	}
	e := r.e
	for _, t := range r.temps {
		switch v := t.v.(type) {
		case *int64:
			*t.col.Ref(&e).(*time.Time) = time.UnixMilli(*v).UTC()
		case **string:
			p := t.col.Ref(&e).(*json.RawMessage)
			*p = nil
			if *v != nil {
				*p = []byte(**v)
			}
		}
	}
	return e, nil
}
