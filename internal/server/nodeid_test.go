package server

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/config"
)

// TestNodeIdentity: the identity kept in the data directory survives a
// restart; a second live process over the same directory does not share
// it; --node-id wins.
func TestNodeIdentity(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	cfg := config.Config{DataDir: filepath.Join(t.TempDir(), "data")}
	first, release := nodeIdentity(cfg, log)
	if config.ValidNodeID(first) != nil || strings.HasPrefix(first, "tmp-") {
		t.Fatalf("first identity %q", first)
	}
	other, releaseOther := nodeIdentity(cfg, log)
	if other == first || !strings.HasPrefix(other, "tmp-") {
		t.Errorf("a second live process got %q (the first holds %q)", other, first)
	}
	releaseOther()
	release()
	again, release := nodeIdentity(cfg, log)
	release()
	if again != first {
		t.Errorf("after a restart %q, want %q", again, first)
	}
	cfg.NodeID = "login-1"
	if id, release := nodeIdentity(cfg, log); id != "login-1" {
		t.Errorf("with --node-id: %q", id)
	} else {
		release()
	}
}
