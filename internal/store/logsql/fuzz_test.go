package logsql

import (
	"testing"

	"github.com/latchkey/latchkey/internal/eventlog/query"
)

// FuzzWhere: whatever the parser accepts compiles in both dialects, with
// one bound argument per placeholder and no error.
func FuzzWhere(f *testing.F) {
	for _, s := range []string{
		`type:depnote AND description:*passwordless*`,
		`type:depnote AND description:Allow\ Connections\ Management\ without\ Options\ Scopes*`,
		`type:depnote AND description:*Unpaginated* AND details.size_exceeded:true`,
		`type:s*`, `connection:*pass*`, `user_id:"123"`, `jane`, `NOT (a OR b:c*d*e)`,
		`date:[2018-12 TO *] AND _exists_:details.a`, `details.a-b:[x TO y}`, `isMobile:false`,
		`details.n:1e3 OR details.n:-0.5`, `user_name:*%_\*\?\[x\]\\'`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := query.Parse(s)
		if err != nil {
			return
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			q := New(d)
			if err := q.Where(n); err != nil {
				t.Fatalf("Where(%q) in dialect %d: %v", s, d, err)
			}
			if len(q.SQL()) > 1<<20 {
				t.Fatalf("Where(%q): %d bytes of SQL", s, len(q.SQL()))
			}
		}
	})
}
