package clientinfo

import "strings"

// Limits applied by ParseUserAgent and IsMobile.
const (
	// MaxUserAgentScan is the number of leading bytes of a User-Agent that
	// are looked at; the rest is ignored.
	MaxUserAgentScan = 512
	// maxVersionPart caps the digits kept in one version component.
	maxVersionPart = 10
	// MaxParsedLength bounds the length of a ParseUserAgent result.
	MaxParsedLength = 128
)

// Other is the parsed form of a User-Agent that is not a recognised browser,
// such as curl, Go-http-client, node-fetch or Go-Auth0.
const Other = "Other 0.0.0 / Other 0.0.0"

// ParseUserAgent returns the form Auth0 records in the user_agent log field:
// "<browser> <major.minor.patch> / <os> <major.minor.patch>", for example
// "Chrome 120.0.0 / Mac OS X 10.15.7" or "Mobile Safari 17.1.0 / iOS 17.1.2".
// Missing version components are "0". Browser and OS names follow ua-parser
// (Chrome, Chrome Mobile, Chrome Mobile iOS, Chrome Mobile WebView, Chromium,
// Edge, Edge Mobile, Firefox, Firefox Mobile, Firefox iOS, Safari, Mobile
// Safari, Opera, Opera Mobile, Samsung Internet; Windows, Mac OS X, iOS,
// Android, Chrome OS, Linux). Windows NT versions are mapped to marketing
// versions (NT 10.0 → 10, 6.3 → 8.1, 6.2 → 8, 6.1 → 7, 6.0 → Vista, 5.x → XP).
//
// Anything that is not a Mozilla-style browser string yields Other. Only the
// first MaxUserAgentScan bytes are examined and the result is never longer
// than MaxParsedLength bytes.
func ParseUserAgent(ua string) string {
	ua = head(ua)
	if !strings.HasPrefix(ua, "Mozilla/") {
		return Other
	}
	osName, osVersion := parseOS(ua)
	browser, version := parseBrowser(ua, osName)
	return browser + " " + version + " / " + osName + " " + osVersion
}

// IsMobile reports whether ua comes from a phone or tablet browser: iOS and
// Android devices, Windows Phone, BlackBerry, Opera Mini, or any browser
// string carrying the "Mobi" marker. Non-browser clients are not mobile.
// Only the first MaxUserAgentScan bytes are examined.
func IsMobile(ua string) bool {
	ua = head(ua)
	if !strings.HasPrefix(ua, "Mozilla/") && !strings.HasPrefix(ua, "Opera/") {
		return false
	}
	for _, marker := range mobileMarkers {
		if strings.Contains(ua, marker) {
			return true
		}
	}
	return false
}

var mobileMarkers = []string{
	"Mobi", "iPhone", "iPad", "iPod", "Android", "Windows Phone",
	"BlackBerry", "BB10", "Opera Mini",
}

// head returns the part of ua that is examined.
func head(ua string) string {
	if len(ua) > MaxUserAgentScan {
		return ua[:MaxUserAgentScan]
	}
	return ua
}

// parseOS finds the operating system and its padded version.
func parseOS(ua string) (name, version string) {
	switch {
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad") || strings.Contains(ua, "iPod"):
		// "CPU iPhone OS 17_1_2 like Mac OS X", "CPU OS 16_6 like Mac OS X".
		if v, ok := versionAfter(ua, " OS "); ok {
			return "iOS", v
		}
		return "iOS", zeroVersion
	case strings.Contains(ua, "CrOS "):
		// "X11; CrOS x86_64 15633.69.0": the version follows the platform.
		i := strings.Index(ua, "CrOS ") + len("CrOS ")
		rest := ua[i:]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			return "Chrome OS", readVersion(rest[j+1:])
		}
		return "Chrome OS", zeroVersion
	case strings.Contains(ua, "Android"):
		if v, ok := versionAfter(ua, "Android "); ok {
			return "Android", v
		}
		return "Android", zeroVersion
	case strings.Contains(ua, "Windows Phone"):
		if v, ok := versionAfter(ua, "Windows Phone "); ok {
			return "Windows Phone", v
		}
		return "Windows Phone", zeroVersion
	case strings.Contains(ua, "Windows NT "):
		return windowsVersion(ua)
	case strings.Contains(ua, "Mac OS X"):
		// "Macintosh; Intel Mac OS X 10_15_7" (Chrome) or "10.15; rv:…" (Firefox).
		if v, ok := versionAfter(ua, "Mac OS X "); ok {
			return "Mac OS X", v
		}
		return "Mac OS X", zeroVersion
	case strings.Contains(ua, "Ubuntu"):
		return "Ubuntu", zeroVersion
	case strings.Contains(ua, "Linux"):
		return "Linux", zeroVersion
	}
	return "Other", zeroVersion
}

// windowsVersion maps "Windows NT x.y" to a marketing version. Windows 11
// still reports NT 10.0, so it shows as Windows 10.
func windowsVersion(ua string) (name, version string) {
	i := strings.Index(ua, "Windows NT ") + len("Windows NT ")
	switch nt := readVersion(ua[i:]); nt {
	case "10.0.0":
		return "Windows", "10.0.0"
	case "6.3.0":
		return "Windows", "8.1.0"
	case "6.2.0":
		return "Windows", "8.0.0"
	case "6.1.0":
		return "Windows", "7.0.0"
	case "6.0.0":
		return "Windows Vista", zeroVersion
	case "5.1.0", "5.2.0":
		return "Windows XP", zeroVersion
	}
	return "Windows", zeroVersion
}

// parseBrowser finds the browser and its padded version. The order matters:
// most browsers also carry "Chrome/" and "Safari/" tokens.
func parseBrowser(ua, osName string) (name, version string) {
	mobile := strings.Contains(ua, "Mobile")
	if v, ok := versionAfter(ua, "EdgiOS/"); ok {
		return "Edge Mobile", v
	}
	if v, ok := versionAfter(ua, "EdgA/"); ok {
		return "Edge Mobile", v
	}
	if v, ok := versionAfter(ua, "Edg/"); ok {
		return "Edge", v
	}
	if v, ok := versionAfter(ua, "Edge/"); ok {
		return "Edge", v
	}
	if v, ok := versionAfter(ua, "OPR/"); ok {
		if mobile {
			return "Opera Mobile", v
		}
		return "Opera", v
	}
	if v, ok := versionAfter(ua, "SamsungBrowser/"); ok {
		return "Samsung Internet", v
	}
	if v, ok := versionAfter(ua, "YaBrowser/"); ok {
		return "Yandex Browser", v
	}
	if v, ok := versionAfter(ua, "Vivaldi/"); ok {
		return "Vivaldi", v
	}
	if v, ok := versionAfter(ua, "CriOS/"); ok {
		return "Chrome Mobile iOS", v
	}
	if v, ok := versionAfter(ua, "FxiOS/"); ok {
		return "Firefox iOS", v
	}
	if v, ok := versionAfter(ua, "Firefox/"); ok {
		if osName == "Android" || mobile {
			return "Firefox Mobile", v
		}
		return "Firefox", v
	}
	if v, ok := versionAfter(ua, "Chromium/"); ok {
		return "Chromium", v
	}
	if v, ok := versionAfter(ua, "Chrome/"); ok {
		if osName == "Android" {
			// The WebView marks itself with "; wv)" (Android 5+) or, on
			// older releases, with a "Version/4.0" token.
			if strings.Contains(ua, "; wv)") || strings.Contains(ua, "Version/") {
				return "Chrome Mobile WebView", v
			}
			return "Chrome Mobile", v
		}
		return "Chrome", v
	}
	if osName == "iOS" {
		if v, ok := versionAfter(ua, "Version/"); ok && strings.Contains(ua, "Safari/") {
			return "Mobile Safari", v
		}
		if !strings.Contains(ua, "Safari/") {
			return "Mobile Safari UI/WKWebView", zeroVersion
		}
		return "Mobile Safari", zeroVersion
	}
	if strings.Contains(ua, "Safari/") {
		if v, ok := versionAfter(ua, "Version/"); ok {
			return "Safari", v
		}
	}
	return "Other", zeroVersion
}

// zeroVersion is the padded form of an unknown version.
const zeroVersion = "0.0.0"

// versionAfter finds token in ua and reads the version that follows it. It
// reports false when the token is absent.
func versionAfter(ua, token string) (string, bool) {
	i := strings.Index(ua, token)
	if i < 0 {
		return "", false
	}
	return readVersion(ua[i+len(token):]), true
}

// readVersion reads up to three numeric components separated by '.' or '_'
// at the start of s and pads the result to three components. Each component
// keeps at most maxVersionPart digits.
func readVersion(s string) string {
	var parts [3]string
	n := 0
	i := 0
	for n < len(parts) {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			break
		}
		part := s[start:i]
		if len(part) > maxVersionPart {
			part = part[:maxVersionPart]
		}
		parts[n] = part
		n++
		if i+1 < len(s) && (s[i] == '.' || s[i] == '_') && s[i+1] >= '0' && s[i+1] <= '9' {
			i++
			continue
		}
		break
	}
	for j := n; j < len(parts); j++ {
		parts[j] = "0"
	}
	return parts[0] + "." + parts[1] + "." + parts[2]
}
