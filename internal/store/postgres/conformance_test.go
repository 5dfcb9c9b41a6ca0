package postgres

import (
	"testing"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/storetest"
)

// TestConformance runs the storage contract's suite; every store gets a
// fresh schema of its own.
func TestConformance(t *testing.T) {
	baseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t) })
}
