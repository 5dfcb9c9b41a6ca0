package mgmtapi

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/store"
)

// Protection answers the block questions of the attack-protection endpoints.
//
// Identifiers come as Latchkey stores them: an email address normalized by
// passwordless.NormalizeEmail, or a phone number in E.164; an identifier
// that is neither is passed as given. IPs come in their canonical form
// (netip.Addr.String of the unmapped address, never with a zone).
type Protection interface {
	// Blocks lists the brute-force blocks of an identifier (an email address or phone number): which IPs are blocked for it, on which connection.
	Blocks(ctx context.Context, identifier string) ([]store.Block, error)
	// Unblock lifts every brute-force block of the identifier.
	Unblock(ctx context.Context, identifier string) error
	// IPBlocked reports whether suspicious IP throttling blocks ip.
	IPBlocked(ctx context.Context, ip string) (bool, error)
	// UnblockIP lifts suspicious IP throttling of ip.
	UnblockIP(ctx context.Context, ip string) error
}

// errNoProtection answers the block routes of a server without attack
// protection.
var errNoProtection = httpx.Errorf(http.StatusNotImplemented, "not_implemented",
	"Attack protection blocks are not reachable here: with the in-memory limiter they live in the nodes; use --server (or run the nodes with --redis-url)")

func (a *API) protection() (Protection, error) {
	if a.Protection == nil {
		return nil, errNoProtection
	}
	return a.Protection, nil
}

// userIdentifier is the identifier of the user named by the path's id (its
// email address or phone number).
func (a *API) userIdentifier(r *http.Request) (string, error) {
	u, err := a.user(r)
	if err != nil {
		return "", err
	}
	if u.Email != "" {
		return u.Email, nil
	}
	if u.PhoneNumber != "" {
		return u.PhoneNumber, nil
	}
	return u.Identifier, nil
}

// queryIdentifier is the identifier query parameter, required, emails
// normalized as they are stored.
func queryIdentifier(r *http.Request) (string, error) {
	id := r.URL.Query().Get("identifier")
	switch {
	case id == "":
		return "", httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'Missing required property: identifier'")
	case len(id) > 512 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'String is too long or contains control characters' on property identifier")
	}
	if strings.Contains(id, "@") {
		if norm, err := passwordless.NormalizeEmail(id); err == nil {
			return norm, nil
		}
	}
	return id, nil
}

// considerEnablement reads consider_brute_force_enablement.
func considerEnablement(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("consider_brute_force_enablement"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, httpx.Errorf(http.StatusBadRequest, "invalid_query_string",
			"Query validation error: 'Expected type boolean but found type string' on property consider_brute_force_enablement")
	}
}

func (a *API) getUserBlocks(w http.ResponseWriter, r *http.Request) error {
	return a.writeBlocks(w, r, a.userIdentifier)
}

func (a *API) getBlocksByIdentifier(w http.ResponseWriter, r *http.Request) error {
	return a.writeBlocks(w, r, queryIdentifier)
}

// writeBlocks answers {"blocked_for":[…]} for the identifier ident finds.
// With consider_brute_force_enablement=true the list is empty unless
// brute-force protection is on and blocks.
func (a *API) writeBlocks(w http.ResponseWriter, r *http.Request, ident func(*http.Request) (string, error)) error {
	p, err := a.protection()
	if err != nil {
		return err
	}
	consider, err := considerEnablement(r)
	if err != nil {
		return err
	}
	id, err := ident(r)
	if err != nil {
		return err
	}
	out := []store.Block{}
	if consider {
		s, err := a.Store.GetSettings(r.Context())
		if err != nil {
			return fmt.Errorf("read settings: %w", err)
		}
		if bf := s.AttackProtection.BruteForceOrDefault(); !bf.Enabled || !slices.Contains(bf.Shields, "block") {
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"blocked_for": out})
			return nil
		}
	}
	blocks, err := p.Blocks(r.Context(), id)
	if err != nil {
		return fmt.Errorf("list blocks: %w", err)
	}
	out = append(out, blocks...)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"blocked_for": out})
	return nil
}

func (a *API) deleteUserBlocks(w http.ResponseWriter, r *http.Request) error {
	return a.unblock(w, r, a.userIdentifier)
}

func (a *API) deleteBlocksByIdentifier(w http.ResponseWriter, r *http.Request) error {
	return a.unblock(w, r, queryIdentifier)
}

func (a *API) unblock(w http.ResponseWriter, r *http.Request, ident func(*http.Request) (string, error)) error {
	p, err := a.protection()
	if err != nil {
		return err
	}
	id, err := ident(r)
	if err != nil {
		return err
	}
	if err := p.Unblock(r.Context(), id); err != nil {
		return fmt.Errorf("unblock: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pathIP is the path's IP address in canonical form.
func pathIP(r *http.Request) (string, error) {
	s := r.PathValue("ip")
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return "", httpx.Errorf(http.StatusBadRequest, "invalid_uri",
			"Path validation error: 'Object didn't pass validation for format ipv4 or ipv6: %s' on property id (IP address to check).", s)
	}
	return addr.Unmap().String(), nil
}

// errIPNotBlocked is how Auth0 says an IP is not blocked.
var errIPNotBlocked = httpx.Errorf(http.StatusNotFound, "", "IP address specified is not currently blocked.")

// getIPBlock answers 200 with an empty body when suspicious IP throttling
// blocks the IP, 404 when not.
func (a *API) getIPBlock(w http.ResponseWriter, r *http.Request) error {
	p, err := a.protection()
	if err != nil {
		return err
	}
	ip, err := pathIP(r)
	if err != nil {
		return err
	}
	blocked, err := p.IPBlocked(r.Context(), ip)
	if err != nil {
		return fmt.Errorf("check IP: %w", err)
	}
	if !blocked {
		return errIPNotBlocked
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deleteIPBlock(w http.ResponseWriter, r *http.Request) error {
	p, err := a.protection()
	if err != nil {
		return err
	}
	ip, err := pathIP(r)
	if err != nil {
		return err
	}
	if err := p.UnblockIP(r.Context(), ip); err != nil {
		return fmt.Errorf("unblock IP: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
