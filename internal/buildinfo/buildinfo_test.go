package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() || i.Version == "" || i.Commit == "" {
		t.Errorf("Read() = %+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, "latchkey "+i.Version+" (commit ") || !strings.Contains(s, runtime.Version()) {
		t.Errorf("String() = %q", s)
	}
}

// TestLinkTimeVersion: a version set at link time (-ldflags -X sets the
// variable) wins over the module's.
func TestLinkTimeVersion(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7-test"
	if i := Read(); i.Version != "v9.8.7-test" || !strings.HasPrefix(i.String(), "latchkey v9.8.7-test (commit ") {
		t.Errorf("Read() = %+v, %q", i, i.String())
	}
}
