package delivery

import "testing"

func TestPhoneRegion(t *testing.T) {
	cases := []struct {
		in     string
		region string // "" means not ok
	}{
		{"+14155552671", "US"},  // San Francisco
		{"+12015550123", "US"},  // New Jersey
		{"+16135550123", "CA"},  // +1 is shared: Ottawa is Canada
		{"+447400123456", "GB"}, // UK mobile
		{"+447911123456", "GG"}, // +44 7911 is Guernsey, not GB
		{"+442079460958", "GB"}, // London
		{"+33612345678", "FR"},  // French mobile
		{"+33142685300", "FR"},  // Paris
		{"+8613812345678", "CN"},
		{"+80012345678", "001"}, // international freephone, non-geographic

		{"", ""},
		{"+", ""},
		{"14155552671", ""},       // no +
		{"+1 415 555 2671", ""},   // not E.164: spaces
		{"+1-415-555-2671", ""},   // dashes
		{"+1415555267", ""},       // US: too short
		{"+141555526710", ""},     // US: too long
		{"+11155552671", ""},      // US area codes do not start with 1
		{"+10155552671", ""},      // nor with 0
		{"+4479111234", ""},       // GB: too short
		{"+4407911123456", ""},    // GB with the national trunk 0 kept
		{"+3361234567", ""},       // FR: too short
		{"+33012345678", ""},      // FR with the trunk 0
		{"+999123456789", ""},     // no such country code
		{"+0123456789", ""},       // country codes do not start with 0
		{"+1234567890123456", ""}, // longer than 15 digits
		{"+1415555267a", ""},
		{"+１4155552671", ""}, // fullwidth digit
	}
	for _, c := range cases {
		region, ok := PhoneRegion(c.in)
		if ok != (c.region != "") || region != c.region {
			t.Errorf("PhoneRegion(%q) = %q, %v; want %q", c.in, region, ok, c.region)
		}
	}
}
