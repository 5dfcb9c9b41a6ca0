package console

import (
	"net/http"
)

// overview is the console's first page.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.overviewData(r, s)
	if msg, ok := refusal(err); ok {
		c.render(w, r, s, "overview.html", page{Title: "Overview", Nav: "overview", Error: msg})
		return
	} else if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, s, "overview.html", page{Title: "Overview", Nav: "overview", Data: d})
}
