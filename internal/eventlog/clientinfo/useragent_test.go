package clientinfo

import (
	"strings"
	"testing"
)

var userAgentTests = []struct {
	ua     string
	want   string
	mobile bool
}{
	// Desktop browsers (reduced User-Agent strings as Chrome and Edge send them).
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Chrome 120.0.0 / Mac OS X 10.15.7", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Chrome 131.0.0 / Windows 10.0.0", false},
	{"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.5414.120 Safari/537.36",
		"Chrome 109.0.5414 / Windows 7.0.0", false},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Chrome 120.0.0 / Linux 0.0.0", false},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36",
		"Chrome 131.0.6778 / Linux 0.0.0", false},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/83.0.4103.61 Chrome/83.0.4103.61 Safari/537.36",
		"Chromium 83.0.4103 / Ubuntu 0.0.0", false},
	{"Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.212 Safari/537.36",
		"Chrome 119.0.6045 / Chrome OS 15633.69.0", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
		"Edge 120.0.0 / Windows 10.0.0", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582",
		"Edge 18.19582.0 / Windows 10.0.0", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Firefox 121.0.0 / Windows 10.0.0", false},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Firefox 121.0.0 / Mac OS X 10.15.0", false},
	{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
		"Firefox 115.0.0 / Ubuntu 0.0.0", false},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
		"Safari 17.1.0 / Mac OS X 10.15.7", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
		"Opera 106.0.0 / Windows 10.0.0", false},
	{"Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
		"Chrome 109.0.0 / Windows 8.1.0", false},
	{"Mozilla/5.0 (Windows NT 6.2; WOW64; rv:40.0) Gecko/20100101 Firefox/40.0",
		"Firefox 40.0.0 / Windows 8.0.0", false},
	{"Mozilla/5.0 (Windows NT 6.0; rv:52.0) Gecko/20100101 Firefox/52.0",
		"Firefox 52.0.0 / Windows Vista 0.0.0", false},
	{"Mozilla/5.0 (Windows NT 5.1; rv:52.0) Gecko/20100101 Firefox/52.0",
		"Firefox 52.0.0 / Windows XP 0.0.0", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 YaBrowser/24.1.0.0 Safari/537.36",
		"Yandex Browser 24.1.0 / Windows 10.0.0", false},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Vivaldi/6.5.3206.48",
		"Vivaldi 6.5.3206 / Linux 0.0.0", false},

	// Phones and tablets.
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
		"Mobile Safari 17.1.2 / iOS 17.1.2", true},
	{"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
		"Mobile Safari 16.6.0 / iOS 16.6.0", true},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
		"Chrome Mobile iOS 120.0.6099 / iOS 17.2.0", true},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
		"Firefox iOS 121.0.0 / iOS 17.2.0", true},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari/605.1.15 EdgiOS/120.0.2210.116",
		"Edge Mobile 120.0.2210 / iOS 17.2.0", true},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mobile Safari UI/WKWebView 0.0.0 / iOS 16.5.0", true},
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
		"Chrome Mobile 120.0.0 / Android 10.0.0", true},
	{"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Chrome Mobile 120.0.0 / Android 13.0.0", true},
	{"Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36",
		"Chrome Mobile WebView 116.0.0 / Android 13.0.0", true},
	{"Mozilla/5.0 (Linux; Android 4.4.2; Nexus 5 Build/KOT49H) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/30.0.0.0 Mobile Safari/537.36",
		"Chrome Mobile WebView 30.0.0 / Android 4.4.2", true},
	{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
		"Samsung Internet 23.0.0 / Android 14.0.0", true},
	{"Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
		"Firefox Mobile 121.0.0 / Android 14.0.0", true},
	{"Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36 EdgA/120.0.2210.115",
		"Edge Mobile 120.0.2210 / Android 10.0.0", true},
	{"Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 OPR/79.0.4195.76497",
		"Opera Mobile 79.0.4195 / Android 10.0.0", true},

	// Non-browsers.
	{"curl/8.5.0", Other, false},
	{"Go-http-client/1.1", Other, false},
	{"Go-Auth0/1.10.0", Other, false},
	{"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", Other, false},
	{"node", Other, false},
	{"python-requests/2.31.0", Other, false},
	{"okhttp/4.12.0", Other, false},
	{"Wget/1.21.4 (linux-gnu)", Other, false},
	{"", Other, false},
	{"Mozilla/5.0", "Other 0.0.0 / Other 0.0.0", false},
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Other 0.0.0 / Other 0.0.0", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) SomeApp/1.0", "Other 0.0.0 / Windows 10.0.0", false},
}

func TestParseUserAgent(t *testing.T) {
	for _, tt := range userAgentTests {
		if got := ParseUserAgent(tt.ua); got != tt.want {
			t.Errorf("ParseUserAgent(%q)\n got %q\nwant %q", tt.ua, got, tt.want)
		}
		if got := IsMobile(tt.ua); got != tt.mobile {
			t.Errorf("IsMobile(%q) = %v, want %v", tt.ua, got, tt.mobile)
		}
	}
}

func TestParseUserAgentBounds(t *testing.T) {
	// Tokens past the first MaxUserAgentScan bytes are not seen.
	padded := "Mozilla/5.0 (Windows NT 10.0) " + strings.Repeat("x", MaxUserAgentScan) + " Chrome/120.0.0.0"
	if got, want := ParseUserAgent(padded), "Other 0.0.0 / Windows 10.0.0"; got != want {
		t.Errorf("ParseUserAgent(padded) = %q, want %q", got, want)
	}
	if IsMobile(strings.Repeat("x", MaxUserAgentScan) + " iPhone") {
		t.Error("IsMobile looked past the scan limit")
	}
	// Huge version numbers are cut.
	got := ParseUserAgent("Mozilla/5.0 (Windows Phone " + strings.Repeat("9", 100) + ") Chrome/" + strings.Repeat("1", 100) + "." + strings.Repeat("2", 100))
	if want := "Chrome 1111111111.2222222222.0 / Windows Phone 9999999999.0.0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadVersion(t *testing.T) {
	for in, want := range map[string]string{
		"":            "0.0.0",
		"x":           "0.0.0",
		"120":         "120.0.0",
		"120.0.0.0":   "120.0.0",
		"10_15_7":     "10.15.7",
		"17.1 Safari": "17.1.0",
		"1.":          "1.0.0",
		"1..2":        "1.0.0",
		"1._2":        "1.0.0",
		"4.4.2; N":    "4.4.2",
	} {
		if got := readVersion(in); got != want {
			t.Errorf("readVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseUserAgent(f *testing.F) {
	for _, tt := range userAgentTests {
		f.Add(tt.ua)
	}
	f.Add("Mozilla/5.0 (X11; CrOS ")
	f.Add("Mozilla/5.0 (Windows NT ")
	f.Add("Mozilla/\xff\xfe Chrome/1.2.3")
	f.Fuzz(func(t *testing.T, ua string) {
		got := ParseUserAgent(ua)
		if len(got) > MaxParsedLength {
			t.Fatalf("result is %d bytes: %q", len(got), got)
		}
		if strings.Count(got, " / ") != 1 {
			t.Fatalf("result lacks one separator: %q", got)
		}
		if again := ParseUserAgent(ua); again != got {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
		_ = IsMobile(ua)
		if len(ua) > MaxUserAgentScan && ParseUserAgent(ua[:MaxUserAgentScan]) != got {
			t.Fatalf("looked past the scan limit")
		}
	})
}
