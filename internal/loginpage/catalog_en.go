package loginpage

// en is the English catalogue: every key the pages use. Every other
// catalogue has exactly its keys (TestCataloguesComplete).
var en = map[string]string{
	"title":             "Log in",
	"heading":           "Log in to {app}",
	"email.label":       "Email address",
	"email.submit":      "Email me a code",
	"phone.label":       "Phone number (with country code, e.g. +14155550100)",
	"phone.submit":      "Text me a code",
	"email.invalid":     "Enter a valid email address.",
	"phone.invalid":     "Enter the phone number with its country code, e.g. +14155550100.",
	"use.sms":           "Use a phone number instead",
	"use.email":         "Use an email address instead",
	"code.label":        "Code",
	"code.sent.email":   "We sent a code to {to}. It expires in a few minutes.",
	"code.sent.sms":     "We texted a code to {to}. It expires in a few minutes.",
	"code.submit":       "Continue",
	"code.resend":       "Send a new code",
	"code.other":        "Use a different address",
	"error.title":       "Something went wrong",
	"error.back":        "Go back to the application and try again.",
	"expired.title":     "This login has expired",
	"expired.text":      "The login page was open for too long or was already used. Go back to the application and start again.",
	"browser.title":     "Open the link in the same browser",
	"browser.text":      "This link was requested from another browser. Open it in the browser where you started logging in, or type the code from the message there.",
	"confirm.title":     "Confirm your login",
	"confirm.text":      "Continue to log in to {app}.",
	"confirm.submit":    "Log in",
	"no.connection":     "This application has no passwordless login enabled.",
	"redirecting":       "Redirecting…",
	"redirect.submit":   "Continue",
	"redirect.noscript": "JavaScript is off: press Continue to return to the application.",
	"coverify.title":    "Checking your login",
	"coverify.text":     "One moment: {app} is confirming that this login started in this browser.",
	"coverify.noscript": "JavaScript is off, so the check cannot run: press Continue to finish without it.",

	// The callback-mismatch page.
	"mismatch.title": "Callback URL mismatch",
	"mismatch.text":  "The provided redirect_uri is not in the list of allowed callback URLs.",
	"mismatch.app":   "Application",
	"mismatch.hint": "If you run this server: add the URL, exactly as shown (the match is exact), to the application's " +
		"Allowed Callback URLs. The list you give replaces the one it has, so include its current callbacks (latchkey client get shows them).",

	// The --dev demo application's callback page.
	"callback.title":       "Logged in",
	"callback.text":        "The demo application's login succeeded: /authorize sent this authorization code back to its callback.",
	"callback.exchange":    "Exchange it for tokens once, within 10 minutes (this page does not use it). SECRET is the client_secret that serve --dev printed at start:",
	"callback.error.title": "Login failed",
	"callback.error.text":  "/authorize sent this error back to the demo application's callback.",
	"callback.empty.title": "Nothing to show",
	"callback.empty.text": "This is the demo application's callback: it shows the code (or the error) that /authorize sends back, and this request carried neither. " +
		"A response in the URL fragment (#…) never reaches the server: use response_type=code. After a logout, an empty callback is expected.",

	// Errors the hosted page shows in the page's language (the Authentication
	// API's answers keep Auth0's English texts).
	"error.code.wrong.email": "Wrong email or verification code.",
	"error.code.wrong.sms":   "Wrong phone number or verification code.",
	"error.code.expired":     "The code has expired or was tried too often. Request a new one.",
	"error.too.many":         "Too many codes were requested from your network. Please try again later.",
	"error.blocked":          "Your account has been blocked after multiple consecutive login attempts.",
}
