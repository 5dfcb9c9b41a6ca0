package eventlog_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// TestDurableAnswersAfterStoring: a request's events are in the store (a
// real SQLite file) when its answer arrives, however the handler answers
// (a body, a bare status, nothing), concurrent requests sharing batches.
func TestDurableAnswersAfterStoring(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A linger far longer than the test: only the barrier can get the
	// events written in time.
	rec := eventlog.NewRecorder(slog.New(slog.DiscardHandler), st, eventlog.Options{Linger: time.Hour})
	go rec.Run()
	t.Cleanup(rec.Close)

	record := func(r *http.Request) {
		ev := store.LogEvent{Type: eventlog.TypeCodeLinkSent, Description: r.URL.Path}
		rec.Record(r.Context(), ev)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/write/", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/header/", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		record(r)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/nothing/", func(w http.ResponseWriter, r *http.Request) { record(r) })
	srv := httptest.NewServer(eventlog.Durable(mux))
	t.Cleanup(srv.Close)

	var wg sync.WaitGroup
	for i := range 30 {
		path := []string{"/write/", "/header/", "/nothing/"}[i%3] + strings.Repeat("x", i)
		wg.Go(func() {
			r, err := http.Get(srv.URL + path)
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			q, err := query.Parse(`description:"` + path + `"`)
			if err != nil {
				t.Error(err)
				return
			}
			res, err := st.SearchLogs(context.Background(), store.LogSearch{Query: q, Limit: 10})
			if err != nil {
				t.Error(err)
				return
			}
			want := 1
			if strings.HasPrefix(path, "/header/") {
				want = 2
			}
			if len(res.Events) != want {
				t.Errorf("%s answered %d with %d of its %d events stored", path, r.StatusCode, len(res.Events), want)
			}
		})
	}
	wg.Wait()
}
