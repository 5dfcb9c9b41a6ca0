package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

func spoolEvents(n int, from int) []store.LogEvent {
	ids := NewIDs()
	var evs []store.LogEvent
	for i := range n {
		id, at := ids.Next(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).Add(time.Duration(from+i) * time.Millisecond))
		ev := store.LogEvent{ID: id, Date: at, Type: TypeCodeLinkSent, Description: "start", UserName: "u@example.com"}
		if i%2 == 0 {
			ev.Details = json.RawMessage(`{"n":1}`)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestSpoolKeepsWhatACrashLeaves: events appended and never stored come
// back, in order and intact, from the next OpenSpool; a line cut short by
// the crash is skipped; a second process cannot open a held spool.
func TestSpoolKeepsWhatACrashLeaves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, left, err := OpenSpool(dir)
	if err != nil || len(left) != 0 {
		t.Fatalf("fresh spool: %v %v", left, err)
	}
	if _, _, err := OpenSpool(dir); !errors.Is(err, errSpoolInUse) {
		t.Fatalf("a second open of a held spool: %v", err)
	}
	evs := spoolEvents(5, 0)
	if err := sp.append(evs[:2], 2, 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.append(evs[2:], 5, 0); err != nil {
		t.Fatal(err)
	}
	// The process dies in the middle of its next write.
	if _, err := sp.files[sp.cur].Write([]byte(`{"ID":"0000123","Type":"cl`)); err != nil {
		t.Fatal(err)
	}
	sp.Close() // the lock goes with the process
	sp, left, err = OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if !slices.EqualFunc(left, evs, func(a, b store.LogEvent) bool {
		return a.ID == b.ID && a.Date.Equal(b.Date) && a.Type == b.Type && string(a.Details) == string(b.Details) && a.UserName == b.UserName
	}) {
		t.Fatalf("left over %+v, want %+v", left, evs)
	}

	// Restored into a real store, twice (a crash during the restore),
	// they are there once each, and the spool is empty.
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AppendLogs(context.Background(), left[:2]); err != nil {
		t.Fatal(err)
	}
	if err := sp.Restore(context.Background(), st, left); err != nil {
		t.Fatal(err)
	}
	res, err := st.SearchLogs(context.Background(), store.LogSearch{Limit: 100})
	if err != nil || len(res.Events) != len(evs) {
		t.Fatalf("stored %d events (%v), want %d", len(res.Events), err, len(evs))
	}
	for _, f := range sp.files {
		if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
			t.Errorf("spool file %s after the restore: %v %v", f.Name(), fi.Size(), err)
		}
	}
}

// TestSpoolRotates: the spool reuses its other file once every event in
// it is stored, so it stays bounded while the database keeps up, and
// grows (loses nothing) while the database lags.
func TestSpoolRotates(t *testing.T) {
	t.Parallel()
	sp, _, err := OpenSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sp.rotate = 1024
	size := func() int64 {
		var n int64
		for _, f := range sp.files {
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}
	var seq uint64
	evs := spoolEvents(400, 0)
	// The database lags: nothing stored, nothing dropped.
	for i := 0; i < 200; i += 10 {
		seq += 10
		if err := sp.append(evs[i:i+10], seq, 0); err != nil {
			t.Fatal(err)
		}
	}
	lagging := size()
	all := 0
	for _, f := range sp.files {
		got, err := readSpool(f)
		if err != nil {
			t.Fatal(err)
		}
		all += len(got)
	}
	if all != 200 {
		t.Fatalf("with the database lagging the spool holds %d of 200 events", all)
	}
	// The database keeps up: each file stays within the rotation size
	// and one write.
	for i := 200; i < 400; i += 10 {
		seq += 10
		if err := sp.append(evs[i:i+10], seq, seq-10); err != nil {
			t.Fatal(err)
		}
	}
	if n, write := size(), lagging/20; n > 2*(sp.rotate+write) {
		t.Errorf("spool is %d bytes with the database keeping up (rotation at %d; %d while it lagged)", n, sp.rotate, lagging)
	}
	// The database has every event: the next write starts from empty.
	more := spoolEvents(1, 1000)
	if err := sp.append(more, seq+1, seq); err != nil {
		t.Fatal(err)
	}
	all = 0
	for _, f := range sp.files {
		got, err := readSpool(f)
		if err != nil {
			t.Fatal(err)
		}
		all += len(got)
	}
	if all != 1 {
		t.Errorf("with the database caught up the spool holds %d events, want only the new one", all)
	}
}

// blockingSink stores nothing until released.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	got     []store.LogEvent
}

func (s *blockingSink) AppendLogs(ctx context.Context, evs []store.LogEvent) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.got = append(s.got, evs...)
	s.mu.Unlock()
	return nil
}

// TestRecorderAnswersOnceSpooled: with a spool, a request's answer waits
// for its events to be spooled, not for the database: the answer comes
// while the database is stuck, and a crash then leaves the events in the
// spool for the next start.
func TestRecorderAnswersOnceSpooled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, _, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	sink := &blockingSink{release: make(chan struct{})}
	rec := NewRecorder(slog.New(slog.DiscardHandler), sink, Options{Spool: sp})
	go rec.Run()
	srv := httptest.NewServer(Durable(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.Record(r.Context(), store.LogEvent{Type: TypeCodeLinkSent, Description: r.URL.Path})
		io.WriteString(w, "ok")
	})))
	defer srv.Close()
	for _, p := range []string{"/a", "/b", "/c"} {
		r, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	// "Crash": the spool's files as the process leaves them.
	var left []store.LogEvent
	for _, name := range SpoolFiles {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		evs, err := readSpool(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, evs...)
	}
	var descs []string
	for _, ev := range left {
		descs = append(descs, ev.Description)
	}
	if !slices.Equal(descs, []string{"/a", "/b", "/c"}) {
		t.Fatalf("spooled before the answers: %q", descs)
	}
	close(sink.release)
	rec.Close()
	<-rec.stopped
	sp.Close()
	if len(sink.got) != 3 {
		t.Errorf("stored %d events after the database came back", len(sink.got))
	}
}
