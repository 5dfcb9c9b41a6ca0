// Package metrics holds a node's Prometheus metrics: one registry per
// server (no global state), the collectors the request path updates
// (requests, logins, codes, deliveries, limit refusals), and gauges read at
// scrape time from the parts that keep their own counts (outbox, tenant-log
// recorder, limiter, store).
//
// Every label takes values from a closed set: a route pattern, a method,
// a status class, a grant, a connection (email or sms), a channel, a
// provider, a limit name. Unknown values become "other", so no request can
// grow the number of series; no user, IP, client id or secret is a label.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/latchkey/latchkey/internal/buildinfo"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Metrics is a node's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	// Registry is what /metrics serves.
	Registry *prometheus.Registry

	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	logins           *prometheus.CounterVec
	loginFailures    *prometheus.CounterVec
	codesSent        *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	deliveryFailures *prometheus.CounterVec
	deliveryDuration *prometheus.HistogramVec
	refusals         *prometheus.CounterVec
}

// New returns the metrics of a node running build, with the Go runtime's
// and the process's (process_cpu_seconds_total and the like).
func New(build buildinfo.Info) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "latchkey_build_info", Help: "The running build; always 1.",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "go_version": build.GoVersion}})
	info.Set(1)
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status class."}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern, method and status class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route", "method", "code"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_logins_total",
		Help: "Successful logins and token grants, by connection and grant."}, []string{"connection", "grant"})
	m.loginFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_login_failures_total",
		Help: "Failed logins and token grants, by connection and grant."}, []string{"connection", "grant"})
	m.codesSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_codes_sent_total",
		Help: "One-time codes and magic links issued for delivery, by channel."}, []string{"channel"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_deliveries_total",
		Help: "Messages handed to a provider, by provider."}, []string{"provider"})
	m.deliveryFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_delivery_failures_total",
		Help: "Failed delivery attempts, by provider and kind (temporary: retried; permanent: given up)."}, []string{"provider", "kind"})
	m.deliveryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_delivery_duration_seconds",
		Help:    "Time a provider took to accept (or refuse) a message, by provider.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"provider"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_limit_refusals_total",
		Help: "Requests refused by a rate limit or attack protection, by limit."}, []string{"limit"})
	reg.MustRegister(info, m.requests, m.duration, m.logins, m.loginFailures, m.codesSent,
		m.deliveries, m.deliveryFailures, m.deliveryDuration, m.refusals)
	return m
}

// The closed label sets.
var (
	methods     = set("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
	connections = set("email", "sms")
	grants      = grantLabels()
	channels    = set("email", "sms")
	providers   = set(append([]string{"smtp", "dev_capture"}, tenant.SMSProviders...)...)
	limits      = set("passwordless_start", "token", "co_authenticate", "userinfo", "global", "per_recipient",
		"sms_block", "brute_force", "suspicious_ip_login", "suspicious_ip_signup")
)

// grantLabels are the grant label's values: the metric names of tenant's
// grant table and the browser flows (hosted_page, magic_link,
// cross_origin).
func grantLabels() map[string]bool {
	m := set("hosted_page", "magic_link", "cross_origin")
	for _, g := range tenant.GrantTypes() {
		if g.Metric != "" {
			m[g.Metric] = true
		}
	}
	return m
}

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func bounded(allowed map[string]bool, v string) string {
	if allowed[v] {
		return v
	}
	return "other"
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func class(status int) string {
	if status >= 100 && status < 600 {
		return classes[status/100-1]
	}
	return strconv.Itoa(status)
}

// ObserveRequest counts a served request (httpx.Observer). route is a
// registered pattern, so its values are bounded by the server's routes.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	method, code := bounded(methods, method), class(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	m.duration.WithLabelValues(route, method, code).Observe(d.Seconds())
}

// Login counts a login or token grant that succeeded (ok) or failed.
func (m *Metrics) Login(connection, grant string, ok bool) {
	if connection == "" {
		connection = "none"
	} else {
		connection = bounded(connections, connection)
	}
	grant = bounded(grants, grant)
	if ok {
		m.logins.WithLabelValues(connection, grant).Inc()
	} else {
		m.loginFailures.WithLabelValues(connection, grant).Inc()
	}
}

// CodeSent counts a code or link issued for delivery on channel.
func (m *Metrics) CodeSent(channel string) {
	m.codesSent.WithLabelValues(bounded(channels, channel)).Inc()
}

// Delivery records one attempt to hand a message to provider: err nil
// (accepted), temporary (will be retried) or not.
func (m *Metrics) Delivery(provider string, d time.Duration, err error, temporary bool) {
	provider = bounded(providers, provider)
	m.deliveryDuration.WithLabelValues(provider).Observe(d.Seconds())
	if err == nil {
		m.deliveries.WithLabelValues(provider).Inc()
		return
	}
	kind := "permanent"
	if temporary {
		kind = "temporary"
	}
	m.deliveryFailures.WithLabelValues(provider, kind).Inc()
}

// Refused counts a request refused by the named limit.
func (m *Metrics) Refused(limit string) {
	m.refusals.WithLabelValues(bounded(limits, limit)).Inc()
}

// Sources are the parts whose own counts are read at scrape time; a nil
// field is left out.
type Sources struct {
	// Outbox reports the messages waiting and the oldest one's creation.
	Outbox func(ctx context.Context) (messages int64, oldest time.Time, err error)
	// Now is the clock the oldest message's age is measured with.
	Now func() time.Time
	// EventsQueued and EventsDropped are the tenant-log recorder's queue
	// length and the events it gave up writing.
	EventsQueued  func() int
	EventsDropped func() int64
	// LimiterErrors counts calls the shared limiter (Redis) failed to answer.
	LimiterErrors func() int64
	// StoreErrors counts failed database statements.
	StoreErrors func() int64
}

// OutboxTimeout bounds the outbox query of a scrape.
const OutboxTimeout = 2 * time.Second

// Watch registers the gauges and counters read from src at scrape time.
func (m *Metrics) Watch(src Sources) {
	if src.Outbox != nil {
		m.Registry.MustRegister(&outboxCollector{stats: src.Outbox, now: src.Now,
			depth: prometheus.NewDesc("latchkey_outbox_messages", "Messages waiting in the outbox (claimed or not).", nil, nil),
			age: prometheus.NewDesc("latchkey_outbox_oldest_message_age_seconds",
				"Age of the oldest message in the outbox; 0 when it is empty.", nil, nil),
			errs: prometheus.NewDesc("latchkey_outbox_stats_up", "1 when the outbox could be read for this scrape, 0 otherwise.", nil, nil)})
	}
	if src.EventsQueued != nil {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_eventlog_queue_length",
			Help: "Tenant-log events waiting to be written."}, func() float64 { return float64(src.EventsQueued()) }))
	}
	if src.EventsDropped != nil {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_eventlog_dropped_events_total",
			Help: "Tenant-log events given up after the store refused them repeatedly."}, func() float64 { return float64(src.EventsDropped()) }))
	}
	if src.LimiterErrors != nil {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_limiter_backend_errors_total",
			Help: "Rate-limiter calls the shared backend (Redis) failed to answer in time; each was answered by the limit's fail-open or fail-closed policy."},
			func() float64 { return float64(src.LimiterErrors()) }))
	}
	if src.StoreErrors != nil {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "latchkey_store_errors_total",
			Help: "Database statements that failed (not counting missing rows, conflicts and callers that gave up)."},
			func() float64 { return float64(src.StoreErrors()) }))
	}
}

// outboxCollector reads the outbox once per scrape for both gauges.
type outboxCollector struct {
	stats            func(ctx context.Context) (int64, time.Time, error)
	now              func() time.Time
	depth, age, errs *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
	ch <- c.errs
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), OutboxTimeout)
	defer cancel()
	n, oldest, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	age := 0.0
	if !oldest.IsZero() {
		now := time.Now
		if c.now != nil {
			now = c.now
		}
		age = max(0, now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
