package liquid

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

// testVars are the variables of the render tests.
func testVars() map[string]any {
	return map[string]any{
		"send":      "code",
		"code":      "123456",
		"link":      "https://login.example.com/passwordless/verify_redirect?a=1&b=2",
		"operation": "login",
		"application": map[string]any{
			"name": "Acme <Inc>",
		},
		"name":     "world",
		"empty_s":  "",
		"space":    " \t\n",
		"t":        true,
		"f":        false,
		"n":        nil,
		"i":        3,
		"i8":       int8(-8),
		"i16":      int16(16),
		"i32":      int32(32),
		"u":        uint(5),
		"u16":      uint16(16),
		"u32":      uint32(32),
		"uptr":     uintptr(1),
		"u64small": uint64(64),
		"emptysm":  map[string]string{},
		"i64":      int64(-7),
		"u8":       uint8(8),
		"u64":      uint64(math.MaxUint64),
		"fl":       2.5,
		"f32":      float32(0.5),
		"fint":     3.0,
		"numstr":   "12",
		"key":      "a",
		"obj":      map[string]any{"a": map[string]any{"b": "deep"}, "list": "x"},
		"sized":    map[string]any{"size": "custom"},
		"sm":       map[string]string{"k": "v"},
		"emptymap": map[string]any{},
		"html":     `<p class="x">Tom & 'Jerry'</p>`,
		"inf":      math.Inf(1),
		"nan":      math.NaN(),
	}
}

type renderTest struct {
	name, src, want string
}

var renderTests = []renderTest{
	// Text and output.
	{"empty", "", ""},
	{"text", "Hello, world", "Hello, world"},
	{"utf8 text", "Grüße ✓", "Grüße ✓"},
	{"stray closers", "a }} b %} c { d", "a }} b %} c { d"},
	{"variable", "Hello {{ name }}!", "Hello world!"},
	{"no spaces", "{{name}}", "world"},
	{"unknown variable", "[{{ missing }}]", "[]"},
	{"unknown path", "[{{ missing.a.b }}][{{ name.a }}][{{ obj.zz.b }}]", "[][][]"},
	{"empty output", "[{{ }}][{{}}]", "[][]"},
	{"dotted path", "{{ application.name }}", "Acme <Inc>"},
	{"deep path", "{{ obj.a.b }}", "deep"},
	{"brackets", `{{ obj["a"]['b'] }}`, "deep"},
	{"bracket variable", "{{ obj[key].b }}", "deep"},
	{"root bracket", `{{ ["name"] }}`, "world"},
	{"integer index", "[{{ obj[0] }}]", "[]"},
	{"map of strings", "{{ sm.k }}", "v"},
	{"string size", "{{ name.size }}", "5"},
	{"map size", "{{ obj.size }} {{ sm.size }} {{ emptymap.size }}", "2 1 0"},
	{"size key wins", "{{ sized.size }}", "custom"},
	{"size by bracket is a key", `[{{ sm["size"] }}]`, "[]"},
	{"single quotes", "{{ 'it is' }}", "it is"},
	{"double quotes", `{{ "it's" }}`, "it's"},
	{"integers", "{{ 42 }} {{ -3 }} {{ 007 }}", "42 -3 7"},
	{"floats", "{{ 2.50 }} {{ -0.5 }} {{ 3.0 }}", "2.5 -0.5 3"},
	{"keywords", "[{{ true }}][{{ false }}][{{ nil }}][{{ null }}][{{ empty }}][{{ blank }}]", "[true][false][][][][]"},
	{"integer types", "{{ i }} {{ i8 }} {{ i16 }} {{ i32 }} {{ i64 }} {{ u }} {{ u8 }} {{ u16 }} {{ u32 }} {{ uptr }} {{ u64small }} {{ u64 }}", "3 -8 16 32 -7 5 8 16 32 1 64 18446744073709552000"},
	{"float types", "{{ fl }} {{ f32 }} {{ fint }}", "2.5 0.5 3"},
	{"non-finite floats", "{{ inf }} {{ nan }}", "Infinity NaN"},
	{"bools", "{{ t }} {{ f }}", "true false"},
	{"map renders empty", "[{{ application }}]", "[]"},
	{"nil var", "[{{ n }}]", "[]"},
	{"html not escaped", "{{ html }}", `<p class="x">Tom & 'Jerry'</p>`},
	{"identifier with dash and question mark", "{% assign my-var? = 1 %}{{ my-var? }}", "1"},
	{"tag over lines", "{%\nif\nt\n%}y{%\nendif\n%}", "y"},

	// Whitespace control.
	{"trim both", "a  {{- name -}}  b", "aworldb"},
	{"trim left only", "a  {{- name }}  b", "aworld  b"},
	{"trim right only", "a  {{ name -}}  b", "a  worldb"},
	{"trim tags", "a \n {%- if t -%} \n x \n {%- endif -%} \n b", "axb"},
	{"trim keeps other text", "a\n{% if t -%}\n  x\n{%- endif %}\nb", "a\nx\nb"},
	{"trim around assign", "a\n{%- assign x = 1 -%}\nb{{ x }}", "ab1"},
	{"trim only whitespace", "a.\n{{- name }}", "a.world"},
	{"dash output", "[{{-}}][{{--}}]", "[][]"},

	// if, elsif, else, unless.
	{"if true", "{% if t %}yes{% endif %}", "yes"},
	{"if false", "[{% if f %}yes{% endif %}]", "[]"},
	{"if nil", "{% if n %}yes{% else %}no{% endif %}", "no"},
	{"if missing", "{% if missing %}yes{% else %}no{% endif %}", "no"},
	{"empty string is truthy", "{% if empty_s %}yes{% endif %}", "yes"},
	{"zero is truthy", "{% if 0 %}yes{% endif %}", "yes"},
	{"map is truthy", "{% if application %}yes{% endif %}", "yes"},
	{"elsif", "{% if f %}a{% elsif t %}b{% else %}c{% endif %}", "b"},
	{"elsif chain", "{% if f %}a{% elsif n %}b{% elsif i == 3 %}c{% else %}d{% endif %}", "c"},
	{"else", "{% if f %}a{% elsif n %}b{% else %}c{% endif %}", "c"},
	{"nested if", "{% if t %}[{% if f %}x{% else %}{% if t %}y{% endif %}{% endif %}]{% endif %}", "[y]"},
	{"unless", "{% unless f %}yes{% endunless %}", "yes"},
	{"unless true", "{% unless t %}yes{% else %}no{% endunless %}", "no"},
	{"unless elsif", "{% unless t %}a{% elsif t %}b{% endunless %}", "b"},
	{"unless comparison", "{% unless send == 'link' %}not link{% endunless %}", "not link"},

	// Comparisons.
	{"string equal", "{% if send == 'code' %}y{% endif %}", "y"},
	{"string not equal", "{% if send != 'link' %}y{% endif %}", "y"},
	{"diamond", "{% if send <> 'link' %}y{% endif %}", "y"},
	{"int float equal", "{% if i == 3.0 %}y{% endif %}{% if fint == 3 %}z{% endif %}", "yz"},
	{"string is not number", "{% if numstr == 12 %}y{% else %}n{% endif %}", "n"},
	{"nil equals nil", "{% if missing == nil %}y{% endif %}{% if n == null %}z{% endif %}", "yz"},
	{"nil is not false", "{% if n == false %}y{% else %}n{% endif %}", "n"},
	{"bool equal", "{% if t == true %}y{% endif %}", "y"},
	{"less", "{% if i < 4 %}a{% endif %}{% if i < 3 %}b{% endif %}{% if i <= 3 %}c{% endif %}", "ac"},
	{"greater", "{% if fl > 2 %}a{% endif %}{% if i > 3 %}b{% endif %}{% if i >= 3 %}c{% endif %}", "ac"},
	{"string order", "{% if 'abc' < 'abd' %}a{% endif %}{% if 'b' > 'a' %}b{% endif %}", "ab"},
	{"mixed order is false", "[{% if numstr > 1 %}a{% endif %}{% if n < 1 %}b{% endif %}{% if 1 >= n %}c{% endif %}]", "[]"},
	{"NaN compares false", "[{% if nan == nan %}a{% endif %}{% if nan < 1 %}b{% endif %}]", "[]"},
	{"contains substring", "{% if link contains 'verify' %}y{% endif %}", "y"},
	{"contains number", "{% if code contains 34 %}y{% endif %}", "y"},
	{"contains not", "{% if link contains 'nope' %}y{% else %}n{% endif %}", "n"},
	{"contains key", "{% if obj contains 'a' %}y{% endif %}{% if sm contains 'k' %}z{% endif %}", "yz"},
	{"contains nil", "{% if name contains nil %}y{% else %}n{% endif %}{% if n contains 'a' %}y{% else %}n{% endif %}", "nn"},
	{"empty", "{% if empty_s == empty %}a{% endif %}{% if emptymap == empty %}b{% endif %}{% if name == empty %}c{% endif %}{% if empty == empty_s %}d{% endif %}", "abd"},
	{"empty map of strings", "{% if emptysm == empty %}a{% endif %}{{ emptysm | default: 'd' }}", "ad"},
	{"empty is not nil", "{% if n == empty %}a{% else %}b{% endif %}", "b"},
	{"blank", "{% if space == blank %}a{% endif %}{% if n == blank %}b{% endif %}{% if f == blank %}c{% endif %}{% if emptymap == blank %}d{% endif %}{% if name == blank %}e{% endif %}", "abcd"},
	{"not blank", "{% if name != blank %}y{% endif %}", "y"},
	{"map equality", "{% if obj == obj %}y{% else %}n{% endif %}", "n"},

	// and/or, right to left.
	{"and", "{% if t and t %}a{% endif %}{% if t and f %}b{% endif %}", "a"},
	{"or", "{% if f or t %}a{% endif %}{% if f or n %}b{% endif %}", "a"},
	{"or then and", "{% if true or false and false %}y{% else %}n{% endif %}", "y"},
	{"right to left", "{% if false and false or true %}y{% else %}n{% endif %}", "n"},
	{"docs example", "{% if true and false and false or true %}y{% else %}n{% endif %}", "n"},
	{"comparisons joined", "{% if send == 'link' or send == 'link_ios' or send == 'code' %}y{% endif %}", "y"},
	{"short circuit", "{% if t or nan < 1 %}y{% endif %}", "y"},

	// case.
	{"case first", "{% case send %}{% when 'code' %}C{% when 'link' %}L{% endcase %}", "C"},
	{"case second", "{% case 'link' %}{% when 'code' %}C{% when 'link' %}L{% endcase %}", "L"},
	{"case comma", "{% case 'link_ios' %}{% when 'link', 'link_ios', 'link_android' %}L{% endcase %}", "L"},
	{"case or", "{% case 'link_android' %}{% when 'link' or 'link_ios' or 'link_android' %}L{% endcase %}", "L"},
	{"case body once", "{% case 'a' %}{% when 'a', 'a' %}A{% endcase %}", "A"},
	{"case every match", "{% case 'a' %}{% when 'a' %}1{% when 'b' %}2{% when 'a' %}3{% endcase %}", "13"},
	{"case else", "{% case 'x' %}{% when 'a' %}A{% else %}E{% endcase %}", "E"},
	{"case no match", "[{% case 'x' %}{% when 'a' %}A{% endcase %}]", "[]"},
	{"case number", "{% case i %}{% when 1 %}one{% when 3.0 %}three{% endcase %}", "three"},
	{"case nil", "{% case missing %}{% when nil %}none{% endcase %}", "none"},
	{"case text before when", "{% case send %} ignored {{ name }} {% when 'code' %}C{% endcase %}", "C"},
	{"case nested", "{% if t %}{% case send %}{% when 'code' %}{% if t %}C{% endif %}{% endcase %}{% endif %}", "C"},
	{"case variable when", "{% case 'code' %}{% when send %}yes{% endcase %}", "yes"},

	// assign.
	{"assign", "{% assign x = 'v' %}{{ x }}", "v"},
	{"assign no spaces", "{% assign x='v' %}{{ x }}", "v"},
	{"assign filters", "{% assign x = name | upcase | append: '!' %}{{ x }}", "WORLD!"},
	{"assign shadows", "{% assign name = 'you' %}{{ name }}", "you"},
	{"assign number", "{% assign n2 = 4 %}{{ n2 | plus: 1 }}", "5"},
	{"assign variable", "{% assign app = application %}{{ app.name }}", "Acme <Inc>"},
	{"assign then if", "{% assign flag = false %}{% if flag %}y{% else %}n{% endif %}", "n"},
	{"assign empty and blank", "{% assign e = empty %}{% assign b = blank %}[{{ e }}{{ b }}]{% if empty_s == e %}a{% endif %}{% if space == b %}b{% endif %}", "[]ab"},
	{"assign inside branch", "{% if t %}{% assign x = 1 %}{% endif %}{{ x }}", "1"},

	// comment and raw.
	{"comment", "a{% comment %}hidden {{ name }}{% endcomment %}b", "ab"},
	{"comment with bad tags", "a{% comment %}{% for %}{% if %}{{ x | nope }}{% endcomment %}b", "ab"},
	{"nested comment", "a{% comment %}1{% comment %}2{% endcomment %}3{% endcomment %}b", "ab"},
	{"raw in comment", "a{% comment %}{% raw %}{% endcomment %}{% endraw %}{% endcomment %}b", "ab"},
	{"comment trim", "a \n{%- comment -%} x {%- endcomment -%}\n b", "ab"},
	{"inline comment", "a{% # a note %}b{%# another %}c", "abc"},
	{"raw", "{% raw %}{{ name }} {% if %}{% endraw %}", "{{ name }} {% if %}"},
	{"raw trim", "a {%- raw -%} {{ x }} {%- endraw -%} b", "a{{ x }}b"},
	{"raw token holding endraw", "{% raw %}{% x {% endraw %}!", "{% x !"},
	{"raw keeps closers", "{% raw %}}} %}{%{% endraw %}", "}} %}{%"},

	// Filters.
	{"upcase", "{{ 'abc' | upcase }} {{ 'éa' | upcase }} [{{ n | upcase }}]", "ABC ÉA []"},
	{"downcase", "{{ 'ABC' | downcase }} {{ 'ÉA' | downcase }}", "abc éa"},
	{"capitalize", "{{ 'hELLO world' | capitalize }} {{ 'élan' | capitalize }} [{{ '' | capitalize }}]", "Hello world Élan []"},
	{"default missing", "{{ missing | default: 'd' }}", "d"},
	{"default empty string", "{{ empty_s | default: 'd' }}", "d"},
	{"default false", "{{ f | default: 'd' }}", "d"},
	{"default empty map", "{{ emptymap | default: 'd' }}", "d"},
	{"default keeps value", "{{ name | default: 'd' }} {{ 0 | default: 'd' }} {{ space | default: 'd' | size }}", "world 0 3"},
	{"default no argument", "[{{ missing | default }}]", "[]"},
	{"default allow_false", "{{ f | default: 'd', allow_false: true }} {{ n | default: 'd', allow_false: true }} {{ t | default: 'd', allow_false: true }}", "false d true"},
	{"default variable", "{{ missing | default: name }}", "world"},
	{"escape", "{{ html | escape }}", "&lt;p class=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/p&gt;"},
	{"escape link", "{{ link | escape }}", "https://login.example.com/passwordless/verify_redirect?a=1&amp;b=2"},
	{"escape_once", "{{ '&lt; & &amp; &#39; &#x27; &copy &nbsp;x <' | escape_once }}", "&lt; &amp; &amp; &#39; &amp;#x27; &amp;copy &nbsp;x &lt;"},
	{"escape_once edges", `{{ "&#; &; &#12 > ' &" | escape_once }}{{ '"' | escape_once }}`, "&amp;#; &amp;; &amp;#12 &gt; &#39; &amp;&quot;"},
	{"escape_once idempotent", "{{ html | escape | escape_once }}", "&lt;p class=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/p&gt;"},
	{"strip", "[{{ space | append: ' a b ' | strip }}]", "[a b]"},
	{"lstrip", "[{{ '  a  ' | lstrip }}]", "[a  ]"},
	{"rstrip", "[{{ '  a  ' | rstrip }}]", "[  a]"},
	{"append", "{{ 'a' | append: 'b' }} {{ 'a' | append: i }} {{ i | append: fl }}", "ab a3 32.5"},
	{"prepend", "{{ 'b' | prepend: 'a' }}", "ab"},
	{"append and prepend", `{{ name | append: code | prepend: "x" }}`, "xworld123456"},
	{"replace", "{{ 'a-b-c' | replace: '-', '+' }}", "a+b+c"},
	{"replace one argument", "{{ 'a-b-c' | replace: '-' }}", "abc"},
	{"replace empty", "{{ 'abc' | replace: '', '.' }}", ".a.b.c."},
	{"replace_first", "{{ 'a-b-c' | replace_first: '-', '+' }}", "a+b-c"},
	{"replace literal", "{{ 'a.b' | replace: '.', '\\0' }}", `a\0b`},
	{"remove", "{{ 'a-b-c' | remove: '-' }} {{ 'abc' | remove: '' }}", "abc abc"},
	{"remove_first", "{{ 'a-b-c' | remove_first: '-' }}", "ab-c"},
	{"size", "{{ 'héllo' | size }} {{ obj | size }} {{ i | size }} {{ n | size }} {{ name | size | plus: 1 }}", "5 2 0 0 6"},
	{"truncate", "{{ 'Ground control to Major Tom.' | truncate: 20 }}", "Ground control to..."},
	{"truncate ellipsis", "{{ 'Ground control to Major Tom.' | truncate: 25, ', and so on' }}", "Ground control, and so on"},
	{"truncate no ellipsis", "{{ 'Ground control to Major Tom.' | truncate: 20, '' }}", "Ground control to Ma"},
	{"truncate short", "{{ 'short' | truncate: 5 }}", "short"},
	{"truncate shorter than ellipsis", "{{ 'abcdef' | truncate: 2 }} {{ 'abcdef' | truncate: -5 }}", "... ..."},
	{"truncate default", "{{ 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' | truncate }}", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."},
	{"truncate runes", "{{ 'ééééé' | truncate: 4, '…' }}", "ééé…"},
	{"truncate string length", "{{ 'abcdef' | truncate: '4', '' }}", "abcd"},
	{"url_encode", "{{ 'john@liquid.com' | url_encode }} {{ 'Tetsuro Takara' | url_encode }} {{ 'a/b?c=d&e~f' | url_encode }}", "john%40liquid.com Tetsuro+Takara a%2Fb%3Fc%3Dd%26e~f"},
	{"url_decode", "{{ '%27Stop%21%27+said+Fred' | url_decode }}", "'Stop!' said Fred"},
	{"url_decode invalid", "{{ '%zz%4%' | url_decode }} {{ '%ff' | url_decode }} {{ '%C3%A9' | url_decode }}", "%zz%4% \uFFFD é"},
	{"newline_to_br", "{{ code | prepend: 'a\nb\r\nc' | newline_to_br }}", "a<br />\nb<br />\nc123456"},
	{"strip_html", "{{ 'Have <em>you</em> read <strong>Ulysses</strong>?' | strip_html }}", "Have you read Ulysses?"},
	{"strip_html blocks", "{{ 'a<script type=\"x\">if (a < b) {}</script>b<!-- <c> -->c<STYLE>p{}</style>d' | strip_html }}", "abcd"},
	{"strip_newlines", "{{ 'a\nb\r\nc\rd' | strip_newlines }}", "abc\rd"},
	{"plus", "{{ 4 | plus: 2 }} {{ '3' | plus: '1.5' }} {{ 1.1 | plus: 2.2 }} {{ 0.1 | plus: 0.2 }}", "6 4.5 3.3 0.3"},
	{"plus overflow", "{{ 9223372036854775807 | plus: 1 }}", "9223372036854776000"},
	{"plus strings", "{{ 'abc' | plus: 1 }} {{ '12abc' | plus: 1 }} {{ ' -4' | plus: 0 }} {{ n | plus: 1 }}", "1 13 -4 1"},
	{"minus", "{{ 4 | minus: 6 }} {{ 183.357 | minus: 12 }}", "-2 171.357"},
	{"minus overflow", "{{ -9223372036854775807 | minus: 2 }}", "-9223372036854776000"},
	{"times", "{{ 3 | times: 2 }} {{ 1.5 | times: 2 }} {{ 'abc' | times: 2 }} {{ 0.1 | times: 3 }}", "6 3 0 0.3"},
	{"times overflow", "{{ 4294967296 | times: 4294967296 }}", "18446744073709552000"},
	{"divided_by", "{{ 16 | divided_by: 4 }} {{ 5 | divided_by: 3 }} {{ -7 | divided_by: 2 }} {{ 7 | divided_by: -2 }}", "4 1 -4 -4"},
	{"divided_by float", "{{ 20 | divided_by: 7.0 }} {{ 5 | divided_by: 2.0 }}", "2.857142857142857 2.5"},
	{"divided_by min int", "{{ -9223372036854775807 | minus: 1 | divided_by: -1 }}", "9223372036854776000"},
	{"arithmetic non-finite", "{{ inf | plus: 1 }} {{ nan | times: 2 }} {{ 1 | minus: inf }}", "Infinity NaN -Infinity"},
	{"float format", "{{ 100000000000000000000.0 | times: 100 }} {{ 0.0000001 | times: 1 }} {{ 0 | times: -1.0 }}", "1e+22 1e-07 0"},
	{"filter chain", "{{ application.name | downcase | replace: ' ', '-' | escape }}", "acme-&lt;inc&gt;"},
}

func TestRender(t *testing.T) {
	for _, tt := range renderTests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			got, err := tpl.Render(testVars())
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.src, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

// Liquid's assign takes a value and filters, not a comparison: the
// comparison is a parse error rather than a silent surprise.
func TestAssignComparison(t *testing.T) {
	_, err := Parse("{% assign ok = send == 'code' %}")
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "unexpected '=='") {
		t.Fatalf("err = %v, want a syntax error about '=='", err)
	}
}

func TestNilVars(t *testing.T) {
	tpl, err := Parse("a{{ x }}{% if x %}b{% endif %}{% assign y = 1 %}{{ y }}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(nil)
	if err != nil || got != "a1" {
		t.Fatalf("Render(nil) = %q, %v; want \"a1\"", got, err)
	}
}

func TestAssignDoesNotChangeVars(t *testing.T) {
	tpl, err := Parse("{% assign name = 'changed' %}{% assign added = 1 %}{{ name }}")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"name": "original"}
	for range 2 {
		got, err := tpl.Render(vars)
		if err != nil || got != "changed" {
			t.Fatalf("Render = %q, %v", got, err)
		}
	}
	if len(vars) != 1 || vars["name"] != "original" {
		t.Fatalf("vars changed to %v", vars)
	}
}

func TestConcurrentRender(t *testing.T) {
	tpl, err := Parse("{% assign x = name | append: '!' %}{{ x }}")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := strings.Repeat("n", i)
			got, err := tpl.Render(map[string]any{"name": name})
			if err != nil || got != name+"!" {
				t.Errorf("Render = %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
}

type errorTest struct {
	name, src string
	line, col int
	msg       string // a substring of the message
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

// brackets is an output with n nested bracket lookups: {{ a[a[a]] }}.
func brackets(n int) string {
	return "{{ " + strings.Repeat("a[", n) + "a" + strings.Repeat("]", n) + " }}"
}

var syntaxErrorTests = []errorTest{
	{"unclosed output", "ab\n  {{ x", 2, 3, "'{{' is not closed by '}}'"},
	{"unclosed tag", "{% if x", 1, 1, "'{%' is not closed by '%}'"},
	{"unclosed if", "a\n  {% if x %}b", 2, 3, "'if' tag was never closed by 'endif'"},
	{"unclosed unless", "{% unless x %}{% else %}", 1, 1, "'unless' tag was never closed by 'endunless'"},
	{"unclosed case", "{% case x %}{% when 1 %}", 1, 1, "'case' tag was never closed by 'endcase'"},
	{"unclosed case else", "{% case x %}{% else %}", 1, 1, "'case' tag was never closed by 'endcase'"},
	{"unclosed raw", "a {% raw %}{{ x }}", 1, 3, "'raw' tag was never closed by 'endraw'"},
	{"unclosed comment", "{% comment %}{% comment %}{% endcomment %}", 1, 1, "'comment' tag was never closed by 'endcomment'"},
	{"unclosed raw in comment", "{% comment %}{% raw %}{% endcomment %}", 1, 14, "'raw' tag was never closed"},
	{"raw with arguments", "{% raw x %}{% endraw %}", 1, 8, "'raw' takes no arguments"},
	{"stray endif", "{% endif %}", 1, 1, "unexpected 'endif' outside any block"},
	{"stray else", "x {% else %}", 1, 3, "unexpected 'else'"},
	{"stray when", "{% when 1 %}", 1, 1, "unexpected 'when'"},
	{"stray endraw", "{% endraw %}", 1, 1, "unexpected 'endraw'"},
	{"stray endcomment", "{% endcomment %}", 1, 1, "unexpected 'endcomment'"},
	{"wrong end", "{% if x %}{% endunless %}", 1, 11, "unexpected 'endunless'"},
	{"wrong end in case", "{% case x %}{% when 1 %}{% endif %}", 1, 25, "unexpected 'endif'"},
	{"unknown tag", "{% for x in y %}{% endfor %}", 1, 1, "unknown tag 'for'"},
	{"unknown tag nested", "{% if x %}\n{% include 'a' %}{% endif %}", 2, 1, "unknown tag 'include'"},
	{"no tag name", "{% %}", 1, 4, "expected a tag name"},
	{"unknown filter", "{{ x | nope }}", 1, 8, "unknown filter 'nope'"},
	{"unknown filter column in runes", "é{{ x | nope }}", 1, 9, "unknown filter 'nope'"},
	{"unknown filter line", "line1\nline2 {{ x | nope }}", 2, 14, "unknown filter 'nope'"},
	{"filter missing argument", "{{ x | append }}", 1, 8, "filter 'append' takes 1 argument, got 0"},
	{"filter extra argument", "{{ x | upcase: 1 }}", 1, 8, "filter 'upcase' takes 0 arguments, got 1"},
	{"filter range", "{{ x | replace: 'a', 'b', 'c' }}", 1, 8, "takes 1 to 2 arguments, got 3"},
	{"filter unknown option", "{{ x | default: 1, allow: true }}", 1, 20, "filter 'default' has no option 'allow'"},
	{"positional after option", "{{ x | default: allow_false: true, 'b' }}", 1, 36, "positional arguments must come before options"},
	{"filter without name", "{{ x | }}", 1, 8, "expected a filter name after '|'"},
	{"filter argument missing", "{{ x | append: }}", 1, 16, "expected a value, found end of tag"},
	{"if without condition", "{% if %}{% endif %}", 1, 6, "'if' needs a condition"},
	{"elsif without condition", "{% if x %}{% elsif %}{% endif %}", 1, 19, "'elsif' needs a condition"},
	{"single equals", "{% if a = b %}{% endif %}", 1, 9, "unknown operator '='"},
	{"missing right operand", "{% if a == %}{% endif %}", 1, 12, "expected a value, found end of tag"},
	{"filter in if", "{% if a | upcase %}{% endif %}", 1, 9, "filters are not allowed in 'if'"},
	{"junk after condition", "{% if a b %}{% endif %}", 1, 9, "unexpected 'b' in 'if'"},
	{"dangling and", "{% if a and %}{% endif %}", 1, 13, "expected a value, found end of tag"},
	{"bang", "{% if a ! b %}{% endif %}", 1, 9, "unexpected '!'"},
	{"elsif after else", "{% if x %}{% else %}{% elsif y %}{% endif %}", 1, 21, "unexpected 'elsif' after 'else'"},
	{"else after else", "{% if x %}{% else %}{% else %}{% endif %}", 1, 21, "unexpected 'else' after 'else'"},
	{"else if", "{% if x %}{% else if y %}{% endif %}", 1, 19, "'else' takes no arguments (write 'elsif')"},
	{"end tag arguments", "{% if x %}{% endif x %}", 1, 20, "'endif' takes no arguments"},
	{"unclosed string", "{{ 'abc }}", 1, 4, "string is not closed"},
	{"two values", "{{ x y }}", 1, 6, "unexpected 'y' in output"},
	{"range", "{{ (1..3) }}", 1, 4, "ranges and parentheses are not supported"},
	{"unexpected character", "{{ x | append: @ }}", 1, 16, "unexpected '@'"},
	{"unexpected utf8 character", "{{ ✓ }}", 1, 4, "unexpected '✓'"},
	{"dot without name", "{{ a. }}", 1, 7, "expected a name after '.'"},
	{"empty brackets", "{{ a[] }}", 1, 6, "expected a value between '[' and ']'"},
	{"unclosed bracket", "{{ a['b' }}", 1, 10, "expected ']'"},
	{"literal lookup", "{{ 'a'.size }}", 1, 7, "unexpected '.' in output"},
	{"integer out of range", "{{ 99999999999999999999 }}", 1, 4, "number 99999999999999999999 is out of range"},
	{"float out of range", "{{ 1" + strings.Repeat("0", 400) + ".5 }}", 1, 4, "is out of range"},
	{"assign without name", "{% assign %}", 1, 11, "'assign' needs a variable name"},
	{"assign without equals", "{% assign x %}", 1, 13, "expected '=' after 'assign x', found end of tag"},
	{"assign without value", "{% assign x = %}", 1, 15, "'assign' needs a value after '='"},
	{"assign keyword", "{% assign true = 1 %}", 1, 11, "cannot assign to 'true'"},
	{"assign path", "{% assign a.b = 1 %}", 1, 12, "expected '=' after 'assign a', found '.'"},
	{"case without value", "{% case %}{% endcase %}", 1, 8, "'case' needs a value"},
	{"when without value", "{% case x %}{% when %}{% endcase %}", 1, 20, "'when' needs a value"},
	{"when junk", "{% case x %}{% when 1 2 %}{% endcase %}", 1, 23, "unexpected '2' in 'when'"},
	{"when after else", "{% case x %}{% else %}{% when 1 %}{% endcase %}", 1, 23, "unexpected 'when' after 'else'"},
	{"filter in case", "{% case x | upcase %}{% endcase %}", 1, 11, "filters are not allowed in 'case'"},
	{"nesting limit", nested("{% if x %}", "{% endif %}", maxDepth+1), 1, 10*maxDepth + 1, "blocks nested more than 32 deep"},
	{"nesting limit mixed", nested("{% unless x %}{% case x %}{% when 1 %}", "{% endcase %}{% endunless %}", maxDepth/2+1), 1, 38*(maxDepth/2) + 1, "blocks nested more than 32 deep"},
	{"bracket limit", brackets(maxDepth + 1), 1, 4 + 2*maxDepth + 1, "brackets nested more than 32 deep"},
	{"source limit", strings.Repeat("x", maxSource+1), 1, maxSource + 1, "template is 65537 bytes, more than the 65536 allowed"},
}

func TestSyntaxErrors(t *testing.T) {
	for _, tt := range syntaxErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse(tt.src)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, %v; want a *SyntaxError", clip(tt.src), tpl, err)
			}
			if tpl != nil {
				t.Errorf("Parse returned a template with its error")
			}
			if se.Line != tt.line || se.Col != tt.col || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = %v\nwant line %d, column %d: ...%s...", clip(tt.src), err, tt.line, tt.col, tt.msg)
			}
			if want := "line "; !strings.HasPrefix(se.Error(), want) {
				t.Errorf("Error() = %q", se.Error())
			}
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	for _, src := range []string{
		nested("{% if true %}", "{% endif %}", maxDepth),
		brackets(maxDepth),
		strings.Repeat("x", maxSource),
	} {
		if _, err := Parse(src); err != nil {
			t.Errorf("Parse(%q): %v", clip(src), err)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, err := range []error{
		&SyntaxError{Line: 3, Col: 7, Msg: "boom"},
		&RenderError{Line: 3, Col: 7, Msg: "boom"},
	} {
		if got, want := err.Error(), "line 3, column 7: boom"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
}

type renderErrorTest struct {
	name, src string
	vars      map[string]any
	line, col int
	msg       string
}

var bigString = strings.Repeat("ab<&", 50_000) // 200,000 bytes

var renderErrorTests = []renderErrorTest{
	{"divide by zero", "a\n{{ 1 | divided_by: 0 }}", nil, 2, 8, "divided_by: divided by 0"},
	{"divide float by zero", "{{ 1.5 | divided_by: 0.0 }}", nil, 1, 10, "divided by 0"},
	{"divide string by zero", "{{ 'x' | divided_by: 'y' }}", nil, 1, 10, "divided by 0"},
	{"divide infinity by zero", "{{ inf | divided_by: 0 }}", map[string]any{"inf": math.Inf(1)}, 1, 10, "divided by 0"},
	{"truncate invalid length", "{{ 'abc' | truncate: 'x' }}", nil, 1, 12, "truncate: invalid integer"},
	{"truncate float length", "{{ 'abc' | truncate: 1.5 }}", nil, 1, 12, "invalid integer"},
	{"unsupported type", "{{ x }}", map[string]any{"x": struct{}{}}, 1, 4, "variable 'x' has unsupported type struct {}"},
	{"unsupported nested type", "{{ a.b }}", map[string]any{"a": map[string]any{"b": []string{"x"}}}, 1, 4, "variable 'a.b' has unsupported type []string"},
	{"unsupported in condition", "{% if x %}{% endif %}", map[string]any{"x": []any{}}, 1, 7, "unsupported type"},
	{"output limit", "{{ big }}\n{{ big }}", map[string]any{"big": bigString}, 2, 1, "output is larger than 262144 bytes"},
	{"text over output limit", "{{ big }}" + strings.Repeat("x", 63_000), map[string]any{"big": bigString}, 1, 10, "output is larger than 262144 bytes"},
	{"append limit", "{% assign a = big | append: big %}", map[string]any{"big": bigString}, 1, 21, "append: value is larger than 262144 bytes"},
	{"prepend limit", "{{ big | prepend: big }}", map[string]any{"big": bigString}, 1, 10, "prepend: value is larger"},
	{"replace limit", "{{ big | replace: 'a', 'aaa' }}", map[string]any{"big": bigString}, 1, 10, "replace: value is larger"},
	{"replace empty limit", "{{ 'abcd' | replace: '', big }}", map[string]any{"big": bigString}, 1, 13, "replace: value is larger"},
	{"escape limit", "{{ big | escape }}", map[string]any{"big": bigString}, 1, 10, "escape: value is larger"},
	{"escape_once limit", "{{ big | escape_once }}", map[string]any{"big": bigString}, 1, 10, "escape_once: value is larger"},
	{"url_encode limit", "{{ big | url_encode }}", map[string]any{"big": bigString}, 1, 10, "url_encode: value is larger"},
	{"newline_to_br limit", "{{ nl | newline_to_br }}", map[string]any{"nl": strings.Repeat("\n", 50_000)}, 1, 9, "newline_to_br: value is larger"},
	{"truncate limit", "{{ big | append: big | truncate: 300000 }}", map[string]any{"big": bigString}, 1, 10, "append: value is larger"},
	{"upcase limit", "{{ x | upcase }}", map[string]any{"x": strings.Repeat("ɐ", 100_000)}, 1, 8, "upcase: value is larger"},
	{"work limit", strings.Repeat("{% if big contains 'z' %}{% endif %}", 25), map[string]any{"big": bigString}, 1, 1 + 36*20 + 6, "template processes more than 4194304 bytes"},
	{"work limit filters", strings.Repeat("{% assign x = big | downcase %}", 20), map[string]any{"big": bigString}, 1, 1 + 31*10 + 20, "template processes more than"},
}

func TestRenderErrors(t *testing.T) {
	for _, tt := range renderErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out, err := tpl.Render(tt.vars)
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Render = %q, %v; want a *RenderError", clip(out), err)
			}
			if out != "" {
				t.Errorf("Render returned output with its error")
			}
			if re.Line != tt.line || re.Col != tt.col || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("Render = %v\nwant line %d, column %d: ...%s...", err, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestOutputAtLimit(t *testing.T) {
	tpl, err := Parse("{{ x }}{{ x }}")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tpl.Render(map[string]any{"x": strings.Repeat("x", maxOutput/2)})
	if err != nil || len(out) != maxOutput {
		t.Fatalf("Render: %d bytes, %v; want %d bytes", len(out), err, maxOutput)
	}
}
