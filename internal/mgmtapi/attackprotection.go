package mgmtapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Auth0's limits on the attack-protection settings live in package tenant
// (shared with the tenant file's checks).

// bruteForceOut is the brute-force object as Auth0 shows it (lists never null).
func bruteForceOut(b store.BruteForceProtection) store.BruteForceProtection {
	b.Shields = nonNil(b.Shields)
	b.Allowlist = nonNil(b.Allowlist)
	return b
}

func suspiciousOut(s store.SuspiciousIPThrottling) store.SuspiciousIPThrottling {
	s.Shields = nonNil(s.Shields)
	s.Allowlist = nonNil(s.Allowlist)
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func (a *API) getBruteForce(w http.ResponseWriter, r *http.Request) error {
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, bruteForceOut(s.AttackProtection.BruteForceOrDefault()))
	return nil
}

func (a *API) getSuspiciousIP(w http.ResponseWriter, r *http.Request) error {
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, suspiciousOut(s.AttackProtection.SuspiciousIPOrDefault()))
	return nil
}

// patchBruteForce merges the fields given into the brute-force settings
// in force (Auth0's defaults until the first change).
func (a *API) patchBruteForce(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	fields, err := objectFields(raw, "", "enabled", "shields", "allowlist", "mode", "max_attempts")
	if err != nil {
		return err
	}
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	b := bruteForceOut(s.AttackProtection.BruteForceOrDefault())
	for _, err := range []error{
		boolField(fields, "enabled", "", &b.Enabled),
		enumListField(fields, "shields", "", tenant.BruteForceShields, &b.Shields),
		allowlistField(fields, "allowlist", "", &b.Allowlist),
		enumField(fields, "mode", "", tenant.BruteForceModes, &b.Mode),
		intField(fields, "max_attempts", "", tenant.BruteForceMinAttempts, tenant.BruteForceMaxAttempts, &b.MaxAttempts),
	} {
		if err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		s.AttackProtection.BruteForce = &b
		if err := a.putSettings(r, s); err != nil {
			return err
		}
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}

// patchSuspiciousIP merges the fields given (stage fields one by one) into
// the suspicious IP throttling settings in force.
func (a *API) patchSuspiciousIP(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	fields, err := objectFields(raw, "", "enabled", "shields", "allowlist", "stage")
	if err != nil {
		return err
	}
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	t := suspiciousOut(s.AttackProtection.SuspiciousIPOrDefault())
	for _, err := range []error{
		boolField(fields, "enabled", "", &t.Enabled),
		enumListField(fields, "shields", "", tenant.SuspiciousShields, &t.Shields),
		allowlistField(fields, "allowlist", "", &t.Allowlist),
		stageField(fields, &t.Stage),
	} {
		if err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		s.AttackProtection.SuspiciousIP = &t
		if err := a.putSettings(r, s); err != nil {
			return err
		}
	}
	httpx.WriteJSON(w, http.StatusOK, t)
	return nil
}

// putSettings writes the settings and drops the request path's cache.
func (a *API) putSettings(r *http.Request, s store.TenantSettings) error {
	if err := a.Store.PutSettings(r.Context(), s); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	a.Cache.Invalidate()
	return nil
}

func stageField(fields map[string]json.RawMessage, dst *store.SITStages) error {
	raw, ok := fields["stage"]
	if !ok {
		return nil
	}
	stages, err := objectFields(raw, "stage", "pre-login", "pre-user-registration")
	if err != nil {
		return err
	}
	for _, st := range []struct {
		name                     string
		dst                      *store.SITStage
		minAtt, maxAtt, min, max int
	}{
		{"pre-login", &dst.PreLogin, tenant.PreLoginMinAttempts, tenant.PreLoginMaxAttempts, tenant.PreLoginMinRate, tenant.PreLoginMaxRate},
		{"pre-user-registration", &dst.PreUserRegistration, tenant.PreSignupMinAttempts, tenant.PreSignupMaxAttempts, tenant.PreSignupMinRate, tenant.PreSignupMaxRate},
	} {
		raw, ok := stages[st.name]
		if !ok {
			continue
		}
		prop := "stage." + st.name
		f, err := objectFields(raw, prop, "max_attempts", "rate")
		if err != nil {
			return err
		}
		if err := intField(f, "max_attempts", prop, st.minAtt, st.maxAtt, &st.dst.MaxAttempts); err != nil {
			return err
		}
		if err := intField(f, "rate", prop, st.min, st.max, &st.dst.Rate); err != nil {
			return err
		}
	}
	return nil
}

// The field readers below validate one property of a PATCH body the way
// Auth0's schema validation does, with its messages; each leaves dst alone
// when the property is absent. prefix is the dotted path of the enclosing
// object ("" at the top).

// jsonType names the JSON type of a raw value.
func jsonType(raw json.RawMessage) string {
	switch s := strings.TrimSpace(string(raw)); {
	case s == "":
		return "undefined"
	case s[0] == '{':
		return "object"
	case s[0] == '[':
		return "array"
	case s[0] == '"':
		return "string"
	case s == "true", s == "false":
		return "boolean"
	case s == "null":
		return "null"
	case strings.ContainsAny(s, ".eE"):
		return "number"
	default:
		return "integer"
	}
}

func propName(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func wrongType(prop, want string, raw json.RawMessage) error {
	return badRequest("'Expected type %s but found type %s' on property %s", want, jsonType(raw), prop)
}

// objectFields splits a JSON object into its properties, refusing any but
// allowed.
func objectFields(raw json.RawMessage, prop string, allowed ...string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if jsonType(raw) != "object" || json.Unmarshal(raw, &fields) != nil {
		if prop == "" {
			return nil, badRequest("the body must be a JSON object")
		}
		return nil, wrongType(prop, "object", raw)
	}
	var extra []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		where := ""
		if prop != "" {
			where = " on property " + prop
		}
		return nil, badRequest("'Additional properties not allowed: %s'%s", strings.Join(extra, ","), where)
	}
	return fields, nil
}

func boolField(fields map[string]json.RawMessage, key, prefix string, dst *bool) error {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	if jsonType(raw) != "boolean" {
		return wrongType(propName(prefix, key), "boolean", raw)
	}
	return json.Unmarshal(raw, dst)
}

func intField(fields map[string]json.RawMessage, key, prefix string, lo, hi int, dst *int) error {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	prop := propName(prefix, key)
	var n int
	if jsonType(raw) != "integer" || json.Unmarshal(raw, &n) != nil {
		return wrongType(prop, "integer", raw)
	}
	switch {
	case n < lo:
		return badRequest("'Value %d is less than minimum %d' on property %s", n, lo, prop)
	case n > hi:
		return badRequest("'Value %d is greater than maximum %d' on property %s", n, hi, prop)
	}
	*dst = n
	return nil
}

func stringField(raw json.RawMessage, prop string) (string, error) {
	var s string
	if jsonType(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		return "", wrongType(prop, "string", raw)
	}
	return s, nil
}

func enumField(fields map[string]json.RawMessage, key, prefix string, allowed []string, dst *string) error {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	prop := propName(prefix, key)
	s, err := stringField(raw, prop)
	if err != nil {
		return err
	}
	if !slices.Contains(allowed, s) {
		return badRequest("'No enum match for: %q' on property %s (one of %s)", s, prop, strings.Join(allowed, ", "))
	}
	*dst = s
	return nil
}

// stringList reads an array of strings; check validates each item.
func stringList(fields map[string]json.RawMessage, key, prefix string, maxItems int, check func(s, prop string) error, dst *[]string) error {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	prop := propName(prefix, key)
	var items []json.RawMessage
	if jsonType(raw) != "array" || json.Unmarshal(raw, &items) != nil {
		return wrongType(prop, "array", raw)
	}
	if len(items) > maxItems {
		return badRequest("'Array is too long (%d), maximum %d' on property %s", len(items), maxItems, prop)
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		itemProp := fmt.Sprintf("%s[%d]", prop, i)
		s, err := stringField(item, itemProp)
		if err != nil {
			return err
		}
		if err := check(s, itemProp); err != nil {
			return err
		}
		out = append(out, s)
	}
	*dst = out
	return nil
}

func enumListField(fields map[string]json.RawMessage, key, prefix string, allowed []string, dst *[]string) error {
	return stringList(fields, key, prefix, len(allowed), func(s, prop string) error {
		if !slices.Contains(allowed, s) {
			return badRequest("'No enum match for: %q' on property %s (one of %s)", s, prop, strings.Join(allowed, ", "))
		}
		return nil
	}, dst)
}

func allowlistField(fields map[string]json.RawMessage, key, prefix string, dst *[]string) error {
	return stringList(fields, key, prefix, tenant.MaxAllowlist, func(s, prop string) error {
		if !tenant.ValidAllowlistEntry(s) {
			return badRequest("'Object didn't pass validation for format ipv4, cidr, ipv6 or ipv6_cidr: %s' on property %s", s, prop)
		}
		return nil
	}, dst)
}
