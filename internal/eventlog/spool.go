package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/filelock"
	"github.com/latchkey/latchkey/internal/store"
)

// A Spool makes a request's events durable before its answer for the cost
// of one write(2) per group of requests, instead of a database commit:
// the Recorder appends each group of events to the spool (one JSON event a
// line), answers the requests, and stores the events in the database
// later, in large batches. A process killed in between leaves them in the
// spool, and the next start stores them (the database skips IDs it already
// has). Like the SQLite store's commits (WAL, synchronous=NORMAL), a write
// survives the process, not the machine: the operating system writes the
// file out on its own schedule.
//
// The spool is two files used in turn: when the one being written passes
// spoolRotate bytes and every event of the other is in the database, the
// other is emptied and written next, so the spool stays bounded while the
// database keeps up; whenever the database has every spooled event, the
// spool starts again from empty (a quiet node keeps next to nothing).
type Spool struct {
	dir    string
	files  [2]*os.File
	cur    int
	size   int64
	last   [2]uint64 // the sequence number of the last event in each file
	rotate int64
	buf    bytes.Buffer
}

// SpoolFiles are the spool's file names in the data directory.
var SpoolFiles = [2]string{"tenant-log.spool.0", "tenant-log.spool.1"}

const spoolRotate = 4 << 20

// errSpoolInUse: another live process holds the data directory's spool.
var errSpoolInUse = errors.New("the tenant-log spool in the data directory is held by another running process")

// OpenSpool opens (creating) the spool in dir, locked against other
// processes, and returns the events a previous process left in it, oldest
// first: store them (see Restore) before recording new events.
func OpenSpool(dir string) (*Spool, []store.LogEvent, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("spool: create data dir: %w", err)
	}
	s := &Spool{dir: dir, rotate: spoolRotate}
	for i, name := range SpoolFiles {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			s.Close()
			return nil, nil, fmt.Errorf("spool: %w", err)
		}
		s.files[i] = f
	}
	locked, err := filelock.Lock(s.files[0])
	if err != nil || !locked {
		s.Close()
		if err == nil {
			err = errSpoolInUse
		}
		return nil, nil, fmt.Errorf("spool: lock: %w", err)
	}
	var left []store.LogEvent
	for _, f := range s.files {
		evs, err := readSpool(f)
		if err != nil {
			s.Close()
			return nil, nil, fmt.Errorf("spool: read %s: %w", f.Name(), err)
		}
		left = append(left, evs...)
	}
	// IDs grow with time: sort the two files' events into one order.
	sortByID(left)
	return s, left, nil
}

// SpoolLeft reports whether dir holds a spool with events in it (what a
// process that died left), without creating anything.
func SpoolLeft(dir string) bool {
	for _, name := range SpoolFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}

// readSpool reads a spool file's events. A line that does not decode (a
// write cut short by the crash) is skipped: its request was not answered.
func readSpool(f *os.File) ([]store.LogEvent, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var out []store.LogEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev store.LogEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.ID == "" {
			continue
		}
		if string(ev.Details) == "null" {
			ev.Details = nil
		}
		if string(ev.Auth0Client) == "null" {
			ev.Auth0Client = nil
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

func sortByID(evs []store.LogEvent) {
	slices.SortStableFunc(evs, func(a, b store.LogEvent) int { return strings.Compare(a.ID, b.ID) })
}

// Reset empties the spool (once its left-overs are stored).
func (s *Spool) Reset() error {
	for i, f := range s.files {
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("spool: truncate: %w", err)
		}
		s.last[i] = 0
	}
	s.cur, s.size = 0, 0
	_, err := s.files[0].Seek(0, io.SeekStart)
	return err
}

// append writes events, the last of which has sequence number seq, in
// one write. stored is the sequence number of the last event the database
// holds: once it has every event of the file being written, that file
// starts again from empty; once it has every event of the other file, a
// full file hands over to the other.
func (s *Spool) append(events []store.LogEvent, seq, stored uint64) error {
	cur := s.files[s.cur]
	switch {
	case s.size > 0 && stored >= s.last[s.cur] && stored >= s.last[1-s.cur]:
		// Both files' events are all stored.
		if s.last[1-s.cur] != 0 {
			if err := s.empty(1 - s.cur); err != nil {
				return err
			}
		}
		if err := s.empty(s.cur); err != nil {
			return err
		}
	case s.size >= s.rotate && stored >= s.last[1-s.cur]:
		if err := s.empty(1 - s.cur); err != nil {
			return err
		}
		s.cur, s.size = 1-s.cur, 0
		cur = s.files[s.cur]
	}
	s.buf.Reset()
	enc := json.NewEncoder(&s.buf)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return fmt.Errorf("spool: encode: %w", err)
		}
	}
	n, err := cur.Write(s.buf.Bytes())
	if err != nil {
		// A part written (a full disk) would run into the next group's
		// first line: cut it off, so the file ends at a whole line.
		if n > 0 {
			if terr := cur.Truncate(s.size); terr == nil {
				_, _ = cur.Seek(s.size, io.SeekStart)
			} else {
				s.size += int64(n) // the next group starts on a line of its own
				_, _ = cur.Write([]byte("\n"))
			}
		}
		return fmt.Errorf("spool: write: %w", err)
	}
	s.size += int64(n)
	s.last[s.cur] = seq
	return nil
}

// empty truncates file i, whose events are all in the database.
func (s *Spool) empty(i int) error {
	if err := s.files[i].Truncate(0); err != nil {
		return fmt.Errorf("spool: empty: %w", err)
	}
	if _, err := s.files[i].Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: empty: %w", err)
	}
	if i == s.cur {
		s.size = 0
	}
	s.last[i] = 0
	return nil
}

// Close closes the files (and drops the lock).
func (s *Spool) Close() error {
	var errs []error
	for _, f := range s.files {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// Restore stores the events a previous process left in the spool (see
// OpenSpool), in batches, then empties the spool.
func (s *Spool) Restore(ctx context.Context, sink Sink, left []store.LogEvent) error {
	for len(left) > 0 {
		n := min(len(left), DefaultBatch)
		if err := sink.AppendLogs(ctx, left[:n]); err != nil {
			return fmt.Errorf("spool: restore %d events: %w", len(left), err)
		}
		left = left[n:]
	}
	return s.Reset()
}
