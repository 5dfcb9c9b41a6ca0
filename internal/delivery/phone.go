package delivery

import (
	"github.com/nyaruka/phonenumbers"
)

// PhoneRegion checks that e164 is a phone number in strict E.164 form ("+"
// then the country code and the national number, digits only, at most 15)
// that libphonenumber deems both possible (its length fits the country) and
// valid (its prefix is assigned), and returns the number's region as an ISO
// 3166-1 alpha-2 code such as "US" ("001" for non-geographic numbers such as
// +800). The Authentication API's own check is Auth0's looser
// ^\+[0-9]{1,15}$; this one is for deciding whether a message can be sent.
func PhoneRegion(e164 string) (region string, ok bool) {
	if len(e164) < 3 || len(e164) > 16 || e164[0] != '+' || e164[1] == '0' {
		return "", false
	}
	for _, c := range e164[1:] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	// The canonical form must be what was given: this rejects a national
	// trunk prefix kept after the country code (+44 0…), which Parse strips.
	if phonenumbers.Format(num, phonenumbers.E164) != e164 {
		return "", false
	}
	region = phonenumbers.GetRegionCodeForNumber(num)
	if region == "" || region == "ZZ" {
		return "", false
	}
	return region, true
}
