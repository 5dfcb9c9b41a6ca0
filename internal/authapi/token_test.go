package authapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

type eventList []store.LogEvent

func (l *eventList) Record(_ context.Context, ev store.LogEvent) { *l = append(*l, ev) }

type loginCount struct{ connection, grant string }

type observed struct{ ok, failed []loginCount }

func (o *observed) Login(connection, grant string, ok bool) {
	if ok {
		o.ok = append(o.ok, loginCount{connection, grant})
	} else {
		o.failed = append(o.failed, loginCount{connection, grant})
	}
}

func (o *observed) CodeSent(string) {}

// TestRecordTokenPerGrant pins what a token request writes to the tenant
// log and the metrics, per grant type: the event codes of success and
// failure and the grant's metric name. Grants the token endpoint does not
// exchange are not logged.
func TestRecordTokenPerGrant(t *testing.T) {
	for _, c := range []struct {
		grant            string
		success, failure string
		metric           string
	}{
		{"http://auth0.com/oauth/grant-type/passwordless/otp", "s", "fepotpft", "passwordless_otp"},
		{"refresh_token", "sertft", "fertft", "refresh_token"},
		{"client_credentials", "seccft", "feccft", "client_credentials"},
		{"authorization_code", "seacft", "feacft", "authorization_code"},
		{"implicit", "", "", ""},
		{"password", "", "", ""},
	} {
		t.Run(c.grant, func(t *testing.T) {
			var evs eventList
			var obs observed
			a := &API{Events: &evs, Metrics: &obs}
			r := httptest.NewRequest("POST", "/oauth/token", nil)
			au := &oauth.Audit{Grant: c.grant, Client: store.Client{ClientID: "cli", Name: "App"}, IP: "203.0.113.9"}
			a.recordToken(r, au, nil)
			a.recordToken(r, au, &httpx.Error{Status: http.StatusForbidden, Code: "invalid_grant", Description: "nope"})
			a.recordToken(r, au, errors.New("boom"))
			if c.success == "" {
				if len(evs) != 0 || len(obs.ok)+len(obs.failed) != 0 {
					t.Fatalf("events %v, metrics %v", evs, obs)
				}
				return
			}
			if len(evs) != 3 {
				t.Fatalf("%d events, want 3", len(evs))
			}
			for i, want := range []string{c.success, c.failure, c.failure} {
				if evs[i].Type != want || evs[i].ClientID != "cli" || evs[i].IP != "203.0.113.9" {
					t.Errorf("event %d: type %q client %q ip %q, want type %q", i, evs[i].Type, evs[i].ClientID, evs[i].IP, want)
				}
			}
			if evs[1].Description != "nope" || evs[2].Description != "Internal error" {
				t.Errorf("failure descriptions %q, %q", evs[1].Description, evs[2].Description)
			}
			wantOK := []loginCount{{"", c.metric}}
			wantFailed := []loginCount{{"", c.metric}, {"", c.metric}}
			if len(obs.ok) != 1 || obs.ok[0] != wantOK[0] || len(obs.failed) != 2 || obs.failed[0] != wantFailed[0] || obs.failed[1] != wantFailed[1] {
				t.Errorf("metrics ok %v failed %v, want grant %q", obs.ok, obs.failed, c.metric)
			}
		})
	}
}

// TestTokenGrantsCoverTable: every grant of tenant's table is in discovery,
// in the table's order, and every one the token endpoint exchanges is
// logged and counted under its own metric name.
func TestTokenGrantsCoverTable(t *testing.T) {
	keys, err := secret.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a := &API{Minter: oauth.NewMinter("https://issuer.example/", nil, keys)}
	var d struct {
		Grants []string `json:"grant_types_supported"`
	}
	if err := json.Unmarshal(a.discovery([]string{oauth.AlgRS256}), &d); err != nil || !slices.Equal(d.Grants, tenant.GrantNames()) {
		t.Errorf("discovery grants %q, %v; want %q", d.Grants, err, tenant.GrantNames())
	}
	for _, g := range tenant.GrantTypes() {
		var evs eventList
		var obs observed
		a := &API{Events: &evs, Metrics: &obs}
		r := httptest.NewRequest("POST", "/oauth/token", nil)
		a.recordToken(r, &oauth.Audit{Grant: g.Name}, nil)
		a.recordToken(r, &oauth.Audit{Grant: g.Name}, errors.New("boom"))
		if g.Metric == "" {
			if len(evs) != 0 || len(obs.ok)+len(obs.failed) != 0 {
				t.Errorf("%s (not exchanged at the token endpoint) logged %v, counted %v", g.Name, evs, obs)
			}
			continue
		}
		success, failure, _ := oauth.TokenEvents(g.Name)
		if len(evs) != 2 || evs[0].Type != success || evs[1].Type != failure || success == "" || failure == "" {
			t.Errorf("%s: events %v, want %q then %q", g.Name, evs, success, failure)
		}
		if len(obs.ok) != 1 || obs.ok[0].grant != g.Metric || len(obs.failed) != 1 || obs.failed[0].grant != g.Metric {
			t.Errorf("%s: counted %v", g.Name, obs)
		}
	}
}
