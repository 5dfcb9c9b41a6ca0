package logsql

import (
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// PageQuery is the query of one page of a log search, selecting cols; the
// same for both backends but for the dialect.
func PageQuery(d Dialect, cols string, ls store.LogSearch) (*Query, error) {
	col, ok := SortColumn(ls.Sort)
	if !ok {
		return nil, fmt.Errorf("cannot sort by %q", ls.Sort)
	}
	if ls.Offset < 0 || ls.Limit < 0 {
		return nil, errors.New("negative offset or limit")
	}
	dir := " DESC"
	if ls.Ascending {
		dir = " ASC"
	}
	q := New(d).Raw(`SELECT ` + cols + ` FROM logs WHERE `)
	if err := q.Where(ls.Query); err != nil {
		return nil, err
	}
	q.Raw(" ORDER BY " + col + dir)
	if col != "id" {
		q.Raw(", id" + dir)
	}
	q.Raw(" LIMIT ").Arg(ls.Limit).Raw(" OFFSET ").Arg(ls.Offset)
	return q, nil
}

// KnownTotal is the total of a search that a page of n events already
// tells (a short page is the last one), and whether it does; no total is
// needed without WithTotal.
func KnownTotal(ls store.LogSearch, n int) (total int, known bool) {
	switch {
	case !ls.WithTotal:
		return 0, true
	case n > 0 && n < ls.Limit, n == 0 && ls.Offset == 0 && ls.Limit > 0:
		return min(ls.Offset+n, store.MaxLogTotal), true
	}
	return 0, false
}

// CountQuery counts a search's events, up to store.MaxLogTotal.
func CountQuery(d Dialect, ls store.LogSearch) (*Query, error) {
	q := New(d).Raw(`SELECT count(*) FROM (SELECT 1 FROM logs WHERE `)
	if err := q.Where(ls.Query); err != nil {
		return nil, err
	}
	q.Raw(" LIMIT ").Arg(store.MaxLogTotal).Raw(") AS m")
	return q, nil
}

// ScanQuery is one batch of a scan: events matching qn dated in
// [since, until) (a zero time leaves that end open) with an id above
// after, by id.
func ScanQuery(d Dialect, cols string, qn query.Node, since, until time.Time, after string, batch int) (*Query, error) {
	q := New(d).Raw(`SELECT ` + cols + ` FROM logs WHERE id > `).Arg(after)
	if !since.IsZero() {
		q.Raw(" AND ")
		q.DateFrom(since)
	}
	if !until.IsZero() {
		q.Raw(" AND ")
		q.DateBefore(until)
	}
	q.Raw(" AND ")
	if err := q.Where(qn); err != nil {
		return nil, err
	}
	q.Raw(" ORDER BY id LIMIT ").Arg(batch)
	return q, nil
}
