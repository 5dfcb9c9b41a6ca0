package passwordless

import (
	"slices"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/store"
)

// checkSMS applies the SMS pumping defences (beyond Auth0) that need no
// counter to a number about to get a code: a real number (libphonenumber)
// of an allowed country (ErrInvalidPhoneNumber, ErrCountryNotAllowed, whose
// answers read like the provider's: Lock understands code 21211). The
// number's and its block's budgets are the Guard's (AllowRecipient).
func (s *Service) checkSMS(conn store.Connection, number string) error {
	region, ok := delivery.PhoneRegion(number)
	if !ok {
		return &Refusal{Err: ErrInvalidPhoneNumber, Value: number}
	}
	if allowed := conn.Options.AllowedCountries; len(allowed) > 0 && !slices.Contains(allowed, region) {
		return &Refusal{Err: ErrCountryNotAllowed, Value: region}
	}
	return nil
}
