package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_second.sql": {Data: []byte("B")},
		"m/0001_first.sql":  {Data: []byte("A")},
		"m/README":          {Data: []byte("ignored")},
	}
	steps, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Version != 1 || steps[0].Name != "first" || steps[0].SQL != "A" || steps[1].Version != 2 {
		t.Fatalf("steps %+v", steps)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"bad name":  {"m/first.sql": {}},
		"zero":      {"m/0000_zero.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"no dir":    {},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "duplicate" && !strings.Contains(err.Error(), "share version 1") {
			t.Errorf("duplicate: %v", err)
		}
	}
}
