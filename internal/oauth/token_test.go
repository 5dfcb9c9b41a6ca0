package oauth

import (
	"testing"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/tenant"
)

// TestGrantHandlersCoverTable keeps the token endpoint's handlers in step
// with tenant's grant table: a grant with a metric name is exchanged here,
// with tenant-log event types of its own for success and failure; every
// handler is a grant of the table; anything else is not logged.
func TestGrantHandlersCoverTable(t *testing.T) {
	seen := map[string]string{}
	for _, g := range tenant.GrantTypes() {
		success, failure, ok := TokenEvents(g.Name)
		if _, handled := grantHandlers[g.Name]; handled != (g.Metric != "") || ok != handled {
			t.Errorf("%s: handler %v, TokenEvents ok %v, metric %q", g.Name, handled, ok, g.Metric)
		}
		if !ok {
			continue
		}
		if success == "" || failure == "" || success == failure {
			t.Errorf("%s: event types %q/%q", g.Name, success, failure)
		}
		for _, typ := range []string{success, failure} {
			if other, dup := seen[typ]; dup && typ != eventlog.TypeSuccessLogin {
				t.Errorf("%s and %s both log %q", other, g.Name, typ)
			}
			seen[typ] = g.Name
		}
	}
	for name := range grantHandlers {
		if _, ok := tenant.LookupGrant(name); !ok {
			t.Errorf("handler for %q, which is not in tenant's grant table", name)
		}
	}
	if _, _, ok := TokenEvents("password"); ok {
		t.Error("TokenEvents knows an unknown grant")
	}
}
