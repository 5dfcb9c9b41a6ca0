package liquid

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A filterFunc computes a filter. Its errors are messages that the renderer
// turns into a *RenderError at the filter's position. Before building a
// string it checks the result's size with r.fits, so no filter allocates
// much more than the output limit.
type filterFunc func(r *renderer, in value, args []value, kw map[string]value) (value, error)

type filterDef struct {
	min, max int      // positional arguments
	keywords []string // options (name: value)
	fn       filterFunc
}

func (d *filterDef) hasKeyword(k string) bool {
	for _, x := range d.keywords {
		if x == k {
			return true
		}
	}
	return false
}

func (d *filterDef) arity() string {
	switch {
	case d.min == d.max && d.min == 1:
		return "1 argument"
	case d.min == d.max:
		return fmt.Sprintf("%d arguments", d.min)
	}
	return fmt.Sprintf("%d to %d arguments", d.min, d.max)
}

// stringFilter adapts a function of the input's string form.
func stringFilter(f func(string) string) filterFunc {
	return func(r *renderer, in value, _ []value, _ map[string]value) (value, error) {
		return f(toString(in)), nil
	}
}

var filters map[string]*filterDef

func init() {
	filters = map[string]*filterDef{
		"upcase":     {fn: stringFilter(strings.ToUpper)},
		"downcase":   {fn: stringFilter(strings.ToLower)},
		"capitalize": {fn: stringFilter(capitalize)},
		"default":    {max: 1, keywords: []string{"allow_false"}, fn: defaultFilter},
		"escape": {fn: func(r *renderer, in value, _ []value, _ map[string]value) (value, error) {
			s := toString(in)
			if err := r.fits(escapedLen(s)); err != nil {
				return nil, err
			}
			return htmlEscaper.Replace(s), nil
		}},
		"escape_once": {fn: func(r *renderer, in value, _ []value, _ map[string]value) (value, error) {
			s := toString(in)
			if err := r.fits(escapedLen(s)); err != nil {
				return nil, err
			}
			return escapeOnce(s), nil
		}},
		"strip":  {fn: stringFilter(func(s string) string { return strings.Trim(s, rubySpace) })},
		"lstrip": {fn: stringFilter(func(s string) string { return strings.TrimLeft(s, rubySpace) })},
		"rstrip": {fn: stringFilter(func(s string) string { return strings.TrimRight(s, rubySpace) })},
		"append": {min: 1, max: 1, fn: func(r *renderer, in value, args []value, _ map[string]value) (value, error) {
			a, b := toString(in), toString(args[0])
			if err := r.fits(len(a) + len(b)); err != nil {
				return nil, err
			}
			return a + b, nil
		}},
		"prepend": {min: 1, max: 1, fn: func(r *renderer, in value, args []value, _ map[string]value) (value, error) {
			a, b := toString(args[0]), toString(in)
			if err := r.fits(len(a) + len(b)); err != nil {
				return nil, err
			}
			return a + b, nil
		}},
		"replace":       {min: 1, max: 2, fn: replaceFilter(-1)},
		"replace_first": {min: 1, max: 2, fn: replaceFilter(1)},
		"remove": {min: 1, max: 1, fn: func(r *renderer, in value, args []value, _ map[string]value) (value, error) {
			if old := toString(args[0]); old != "" {
				return strings.ReplaceAll(toString(in), old, ""), nil
			}
			return toString(in), nil
		}},
		"remove_first": {min: 1, max: 1, fn: func(r *renderer, in value, args []value, _ map[string]value) (value, error) {
			return strings.Replace(toString(in), toString(args[0]), "", 1), nil
		}},
		"size": {fn: func(r *renderer, in value, _ []value, _ map[string]value) (value, error) {
			return size(in), nil
		}},
		"truncate": {max: 2, fn: truncate},
		"url_encode": {fn: func(r *renderer, in value, _ []value, _ map[string]value) (value, error) {
			s := toString(in)
			if err := r.fits(3 * len(s)); err != nil {
				return nil, err
			}
			return url.QueryEscape(s), nil
		}},
		"url_decode":    {fn: stringFilter(urlDecode)},
		"newline_to_br": {fn: newlineToBr},
		"strip_html":    {fn: stringFilter(stripHTML)},
		"strip_newlines": {fn: stringFilter(func(s string) string {
			return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", ""), "\n", "")
		})},
		"plus":       {min: 1, max: 1, fn: arithFilter('+')},
		"minus":      {min: 1, max: 1, fn: arithFilter('-')},
		"times":      {min: 1, max: 1, fn: arithFilter('*')},
		"divided_by": {min: 1, max: 1, fn: arithFilter('/')},
	}
}

// rubySpace is what Ruby's strip removes.
const rubySpace = " \t\n\v\f\r\x00"

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	if r == utf8.RuneError && n == 1 {
		return s[:1] + strings.ToLower(s[1:])
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[n:])
}

// defaultFilter returns the argument (or "") when the input is nil, false,
// "" or an empty map; with allow_false: true a false input is kept.
func defaultFilter(r *renderer, in value, args []value, kw map[string]value) (value, error) {
	var def value = ""
	if len(args) > 0 {
		def = args[0]
	}
	useDefault := !truthy(in)
	if truthy(kw["allow_false"]) {
		useDefault = in == nil
	}
	if useDefault || isEmpty(in) {
		return def, nil
	}
	return in, nil
}

// escapedLen is the length of s escaped by escape, and a bound for
// escape_once.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&', '"':
			n += 5
		case '\'':
			n += 4
		case '<', '>':
			n += 3
		}
	}
	return n
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// escapeOnce escapes like escape but leaves character references
// (&name; and &#123;) alone.
func escapeOnce(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		case '&':
			if isCharRef(s[i+1:]) {
				b.WriteByte('&')
			} else {
				b.WriteString("&amp;")
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isCharRef reports whether s starts with "name;" or "#digits;". The scan
// stops at the first byte that is neither, so escapeOnce stays linear.
func isCharRef(s string) bool {
	i := 0
	if i < len(s) && s[i] == '#' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i > 1 && i < len(s) && s[i] == ';'
	}
	for i < len(s) && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) {
		i++
	}
	return i > 0 && i < len(s) && s[i] == ';'
}

func replaceFilter(n int) filterFunc {
	return func(r *renderer, in value, args []value, _ map[string]value) (value, error) {
		s, old, repl := toString(in), toString(args[0]), ""
		if len(args) > 1 {
			repl = toString(args[1])
		}
		count := strings.Count(s, old)
		if n >= 0 && count > n {
			count = n
		}
		if d := len(repl) - len(old); d > 0 && count > 0 {
			// Check the result's size before building it, by division: the
			// product could overflow.
			if len(s) > maxOutput || count > (maxOutput-len(s))/d {
				return nil, r.fits(maxOutput + 1)
			}
		}
		return strings.Replace(s, old, repl, n), nil
	}
}

func truncate(r *renderer, in value, args []value, _ map[string]value) (value, error) {
	length := int64(50)
	if len(args) > 0 {
		n, err := toInteger(args[0])
		if err != nil {
			return nil, err
		}
		length = n
	}
	ellipsis := "..."
	if len(args) > 1 {
		ellipsis = toString(args[1])
	}
	s := toString(in)
	runes := int64(utf8.RuneCountInString(s))
	if runes <= length {
		return s, nil
	}
	keep := length - int64(utf8.RuneCountInString(ellipsis))
	if keep < 0 {
		keep = 0
	}
	cut := 0
	for i := int64(0); i < keep; i++ {
		_, n := utf8.DecodeRuneInString(s[cut:])
		cut += n
	}
	if err := r.fits(cut + len(ellipsis)); err != nil {
		return nil, err
	}
	return s[:cut] + ellipsis, nil
}

// toInteger converts a filter's length argument: an integer, an integral
// float, or a string holding an integer.
func toInteger(v value) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case float64:
		if v == float64(int64(v)) {
			return int64(v), nil
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, errors.New("invalid integer")
}

// urlDecode reverses url_encode: '+' is a space and %XX a byte; a '%' not
// followed by two hex digits is kept, and invalid UTF-8 becomes U+FFFD.
func urlDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func newlineToBr(r *renderer, in value, _ []value, _ map[string]value) (value, error) {
	s := toString(in)
	if err := r.fits(len(s) + 6*strings.Count(s, "\n")); err != nil {
		return nil, err
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "<br />\n"), nil
}

// stripHTML removes what Liquid's strip_html does: first every
// <script>...</script>, <style>...</style> and <!--...--> block (names in any
// ASCII case, each ending at the first closer), then every <...>. Liquid does
// this with regular expressions; scanning instead keeps it linear: with Go's
// regexp, ReplaceAll over many "<script" openers that are never closed takes
// time quadratic in the input (over a minute for 250 KB).
func stripHTML(s string) string {
	s = stripHTMLBlocks(s)
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+1:], '>')
		if j < 0 {
			break // no '>' after this '<', so none after any later one
		}
		b.WriteString(s[:i])
		s = s[i+1+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

var htmlBlocks = [...]struct{ open, close string }{
	{"<script", "</script>"},
	{"<!--", "-->"},
	{"<style", "</style>"},
}

func stripHTMLBlocks(s string) string {
	if strings.IndexByte(s, '<') < 0 {
		return s
	}
	lower := []byte(s)
	for i, c := range lower {
		if c >= 'A' && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	// closers[k] caches the offset of the first htmlBlocks[k].close at or
	// after some earlier search start, or -1 for none; each search starts
	// past the previous one, so the cache keeps the whole pass linear.
	closers := [len(htmlBlocks)]int{-2, -2, -2}
	findClose := func(k, from int) int {
		if c := closers[k]; c == -1 || c >= from {
			return c
		}
		i := bytes.Index(lower[from:], []byte(htmlBlocks[k].close))
		if i >= 0 {
			i += from
		}
		closers[k] = i
		return i
	}
	var b strings.Builder
	done, p := 0, 0 // s[:done] is written or dropped; search from p
	for {
		j := strings.IndexByte(s[p:], '<')
		if j < 0 {
			break
		}
		j += p
		p = j + 1
		for k, blk := range htmlBlocks {
			if !bytes.HasPrefix(lower[j:], []byte(blk.open)) {
				continue
			}
			if end := findClose(k, j+len(blk.open)); end >= 0 {
				b.WriteString(s[done:j])
				done = end + len(blk.close)
				p = done
			}
			break
		}
	}
	b.WriteString(s[done:])
	return b.String()
}

func arithFilter(op byte) filterFunc {
	return func(r *renderer, in value, args []value, _ map[string]value) (value, error) {
		return arith(op, toNumber(in), toNumber(args[0]))
	}
}
