package tenant

import (
	"fmt"
	"slices"
)

// Grant types Latchkey knows.
const (
	GrantPasswordlessOTP   = "http://auth0.com/oauth/grant-type/passwordless/otp"
	GrantAuthorizationCode = "authorization_code"
	GrantImplicit          = "implicit"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// GrantType is one grant type and the facets the rest of Latchkey reads
// from it: discovery lists it (grant_types_supported), client validation
// (BuildClient, for the tenant file and the Management API) accepts it and
// applies its rules, and the metrics name it. The token endpoint exchanges
// the grants that oauth registers a handler for under Name; oauth states the
// tenant-log event types of the exchange next to the handler, and a test
// keeps the two in step (a grant has a handler exactly when it has a
// Metric).
type GrantType struct {
	// Name is the grant_type value.
	Name string
	// Metric is the grant's value of the metrics' grant label; empty for a
	// grant the token endpoint does not exchange (implicit is answered by
	// /authorize).
	Metric string
	// DefaultFor are the application types that get the grant when they
	// name no grant types.
	DefaultFor []string
	// NotFor are the application types that cannot have the grant.
	NotFor []string
}

var (
	allApps    = []string{AppNative, AppSPA, AppRegularWeb, AppNonInteractive}
	serverApps = []string{AppRegularWeb, AppNonInteractive}
)

// grantTypes is the grant table, in the order discovery lists them (Auth0's).
// Adding a grant type is a row here and, for one the token endpoint
// exchanges, its handler in oauth.
var grantTypes = []GrantType{
	{Name: GrantAuthorizationCode, Metric: "authorization_code", DefaultFor: allApps},
	{Name: GrantImplicit, DefaultFor: allApps},
	{Name: GrantPasswordlessOTP, Metric: "passwordless_otp", NotFor: []string{AppSPA}},
	{Name: GrantRefreshToken, Metric: "refresh_token", DefaultFor: allApps},
	{Name: GrantClientCredentials, Metric: "client_credentials", DefaultFor: serverApps},
}

// GrantTypes returns the grant table, in discovery's order (a copy).
func GrantTypes() []GrantType {
	out := make([]GrantType, len(grantTypes))
	for i, g := range grantTypes {
		g.DefaultFor, g.NotFor = slices.Clone(g.DefaultFor), slices.Clone(g.NotFor)
		out[i] = g
	}
	return out
}

// GrantNames returns the names of every grant type, in discovery's order.
func GrantNames() []string {
	out := make([]string, len(grantTypes))
	for i, g := range grantTypes {
		out[i] = g.Name
	}
	return out
}

// LookupGrant returns the grant type named name.
func LookupGrant(name string) (GrantType, bool) {
	for _, g := range grantTypes {
		if g.Name == name {
			return g, true
		}
	}
	return GrantType{}, false
}

// GrantMetric is the metric label of the grant named name; empty when the
// token endpoint does not exchange it or it is unknown.
func GrantMetric(name string) string {
	g, _ := LookupGrant(name)
	return g.Metric
}

// DefaultGrants are the grant types of an application of appType that
// names none, in the table's order.
func DefaultGrants(appType string) []string {
	out := []string{}
	for _, g := range grantTypes {
		if slices.Contains(g.DefaultFor, appType) {
			out = append(out, g.Name)
		}
	}
	return out
}

// checkGrant reports why an application of appType cannot have grant
// type name; nil when it can.
func checkGrant(name, appType string) error {
	g, ok := LookupGrant(name)
	if !ok {
		return fmt.Errorf("unknown grant type %q", name)
	}
	if slices.Contains(g.NotFor, appType) {
		return fmt.Errorf("%q cannot be enabled for %s", name, appTypePlural(appType))
	}
	return nil
}

// appTypePlural names the applications of an application type, in error
// messages.
func appTypePlural(appType string) string {
	switch appType {
	case AppSPA:
		return "single-page applications"
	case AppNative:
		return "native applications"
	case AppRegularWeb:
		return "regular web applications"
	case AppNonInteractive:
		return "machine-to-machine applications"
	}
	return appType + " applications"
}
