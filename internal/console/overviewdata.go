package console

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/eventlog"
)

// overviewData is the overview page's.
type overviewData struct {
	Applications int
	Report       eventlog.MigrationReport
	Breaking     []eventlog.ReportClient
}

func (c *Console) overviewData(r *http.Request, s *session) (overviewData, error) {
	var d overviewData
	var apps []map[string]any
	if err := c.call(r, s, http.MethodGet, "/api/v2/clients?fields=client_id", nil, &apps); err != nil {
		return d, err
	}
	d.Applications = len(apps)
	m, err := c.migrationData(r, s)
	if err != nil {
		return d, err
	}
	d.Report, d.Breaking = m.Report, m.Breaking
	return d, nil
}
