// Package buildinfo says which build of Latchkey is running: the version
// given at link time (-ldflags "-X
// github.com/latchkey/latchkey/internal/buildinfo.version=v1.2.3"), else
// the module version, and the VCS revision Go stamped into the binary.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version is set at link time; it is the only way to name a release built
// from a source archive (no VCS stamp).
var version string

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	Time      string `json:"commit_time,omitempty"`
	GoVersion string `json:"go_version"`
}

// Read returns the running build's Info.
func Read() Info {
	info := Info{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fill(info)
	}
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return fill(info)
}

func fill(info Info) Info {
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is the one-line form `latchkey version` prints.
func (i Info) String() string {
	s := "latchkey " + i.Version + " (commit " + short(i.Commit)
	if i.Modified {
		s += "+modified"
	}
	if i.Time != "" {
		s += ", " + i.Time
	}
	return s + ", " + i.GoVersion + ")"
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
