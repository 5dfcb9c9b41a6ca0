package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/filelock"
	"github.com/latchkey/latchkey/internal/secret"
)

// NodeIDFile holds the node's identity in the data directory.
const NodeIDFile = "node-id"

// nodeIdentity is the name this node claims outbox messages under: the
// configured --node-id, or one generated once and kept in the data
// directory, so that a node restarting after a crash recognises the
// messages it was sending and sends them at once. While the process runs
// it holds an exclusive lock on the file: a second process started over
// the same data directory (two nodes on one PostgreSQL, one host, one
// working directory) must not share the identity, and runs under a random
// one instead. The returned release drops the lock.
func nodeIdentity(cfg config.Config, log *slog.Logger) (id string, release func()) {
	if cfg.NodeID != "" {
		return cfg.NodeID, func() {}
	}
	id, release, err := storedNodeID(cfg.DataDir)
	if err != nil {
		id = "tmp-" + hostLabel() + "-" + secret.Hex(6)
		log.Warn("no node identity kept for this node: messages it is sending at a crash are sent again only when their lease ends (set --node-id to a name unique among the nodes)",
			"node_id", id, "err", err)
		return id, func() {}
	}
	return id, release
}

// errNodeIDInUse: another live process holds the data directory's identity.
var errNodeIDInUse = errors.New("the node identity in the data directory is held by another running process")

// storedNodeID reads (or creates) the data directory's node identity and
// locks it.
func storedNodeID(dir string) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, NodeIDFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", path, err)
	}
	locked, err := filelock.Lock(f)
	if err != nil {
		f.Close()
		return "", nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !locked {
		f.Close()
		return "", nil, errNodeIDInUse
	}
	release := func() { f.Close() } // closing drops the lock
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	id := strings.TrimSpace(string(b[:n]))
	if config.ValidNodeID(id) == nil {
		return id, release, nil
	}
	id = hostLabel() + "-" + secret.Hex(6)
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(id+"\n"), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		release()
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	return id, release, nil
}

// hostLabel is the host name as an identity part (letters, digits, -._).
func hostLabel() string {
	h, _ := os.Hostname()
	h = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return -1
	}, h)
	if len(h) > 40 {
		h = h[:40]
	}
	if h == "" {
		h = "node"
	}
	return h
}
