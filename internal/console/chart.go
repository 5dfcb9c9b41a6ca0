package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// bucket is one bar group of a chart.
type bucket struct {
	Start    time.Time `json:"start"`
	Logins   int64     `json:"logins"`
	Failures int64     `json:"failures"`
	Codes    int64     `json:"codes_sent"`
	Limits   int64     `json:"limit_refusals"`
}

// chart draws logins (and failures beside them) per bucket as an SVG bar
// chart, on the server: numbers only, no script. label formats a bucket's
// start for the axis.
func chart(title string, bs []bucket, label func(time.Time) string) template.HTML {
	const w, h, top, bottom = 720, 180, 12, 24
	var maxV int64 = 1
	for _, b := range bs {
		maxV = max(maxV, b.Logins, b.Failures, b.Codes)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, h, w, h, template.HTMLEscapeString(title))
	n := max(len(bs), 1)
	slot := float64(w-40) / float64(n)
	scale := float64(h-top-bottom) / float64(maxV)
	fmt.Fprintf(&sb, `<text x="0" y="%d">%d</text><text x="0" y="%d">0</text>`, top+4, maxV, h-bottom)
	for i, b := range bs {
		x := 40 + float64(i)*slot
		lh := float64(b.Logins) * scale
		fh := float64(b.Failures) * scale
		fmt.Fprintf(&sb, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d logins</title></rect>`,
			x+1, float64(h-bottom)-lh, slot*0.55, lh, template.HTMLEscapeString(label(b.Start)), b.Logins)
		fmt.Fprintf(&sb, `<rect class="fail" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d failures</title></rect>`,
			x+1+slot*0.55, float64(h-bottom)-fh, slot*0.3, fh, template.HTMLEscapeString(label(b.Start)), b.Failures)
		if i%max(n/6, 1) == 0 {
			fmt.Fprintf(&sb, `<text x="%.1f" y="%d">%s</text>`, x, h-8, template.HTMLEscapeString(label(b.Start)))
		}
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // built from numbers and escaped labels only
}
