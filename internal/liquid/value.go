package liquid

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// value is what expressions evaluate to: nil, bool, int64, float64, string,
// map[string]any, map[string]string, or the literals emptyValue and
// blankValue. normalize converts the caller's values to these.
type value = any

// emptyValue is the literal empty: x == empty holds when x is "" or an empty
// map.
type emptyValue struct{}

// blankValue is the literal blank: x == blank holds when x is nil, false, a
// string of only whitespace, or an empty map.
type blankValue struct{}

// normalize converts a value found in vars to one of value's types. ok is
// false for types Render does not know.
func normalize(v any) (value, bool) {
	switch v := v.(type) {
	case nil, bool, int64, float64, string, map[string]any, map[string]string, emptyValue, blankValue:
		return v, true
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint:
		return uintValue(uint64(v)), true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint64:
		return uintValue(v), true
	case uintptr:
		return uintValue(uint64(v)), true
	case float32:
		return float64(v), true
	}
	return nil, false
}

func uintValue(u uint64) value {
	if u > math.MaxInt64 {
		return float64(u)
	}
	return int64(u)
}

// truthy reports Liquid truthiness: only nil and false are falsy.
func truthy(v value) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	}
	return true
}

// toString is how a value renders.
func toString(v value) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatFloat(v)
	}
	return "" // nil, maps, empty, blank
}

// formatFloat writes integral values without a fractional part, others in
// the shortest form that reads back the same, and very large or small ones
// with an exponent.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func parseIntLiteral(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func parseFloatLiteral(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// isEmpty reports whether v == empty.
func isEmpty(v value) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	case map[string]string:
		return len(v) == 0
	case emptyValue:
		return true
	}
	return false
}

// isBlank reports whether v == blank.
func isBlank(v value) bool {
	switch v := v.(type) {
	case nil, blankValue:
		return true
	case bool:
		return !v
	case string:
		return trimLeftSpace(v) == ""
	}
	return isEmpty(v)
}

// equal is Liquid's ==.
func equal(a, b value) bool {
	switch a.(type) {
	case emptyValue:
		return isEmpty(b)
	case blankValue:
		return isBlank(b)
	}
	switch b.(type) {
	case emptyValue:
		return isEmpty(a)
	case blankValue:
		return isBlank(a)
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case int64, float64:
		c, ok := compareNumbers(a, b)
		return ok && c == 0
	}
	return false // maps compare unequal
}

// compareNumbers compares two numbers; ok is false if either is not one.
func compareNumbers(a, b value) (c int, ok bool) {
	switch a := a.(type) {
	case int64:
		switch b := b.(type) {
		case int64:
			return cmp3(a, b), true
		case float64:
			return cmpFloat(float64(a), b)
		}
	case float64:
		switch b := b.(type) {
		case int64:
			return cmpFloat(a, float64(b))
		case float64:
			return cmpFloat(a, b)
		}
	}
	return 0, false
}

func cmp3[T int64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) (int, bool) {
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	case a == b:
		return 0, true
	}
	return 0, false // NaN
}

// compare evaluates a comparison operator. It charges the work of string
// operations to r.
func (r *renderer) compare(op string, a, b value) (bool, error) {
	switch op {
	case "==":
		return r.chargedEqual(a, b)
	case "!=", "<>":
		eq, err := r.chargedEqual(a, b)
		return !eq, err
	case "contains":
		return r.contains(a, b)
	}
	var c int
	if n, ok := compareNumbers(a, b); ok {
		c = n
	} else if as, ok := a.(string); ok {
		bs, ok := b.(string)
		if !ok {
			return false, nil
		}
		if err := r.charge(min(len(as), len(bs))); err != nil {
			return false, err
		}
		c = cmp3(as, bs)
	} else {
		return false, nil
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, fmt.Errorf("unknown operator '%s'", op)
}

func (r *renderer) chargedEqual(a, b value) (bool, error) {
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			if err := r.charge(min(len(as), len(bs))); err != nil {
				return false, err
			}
		}
	}
	return equal(a, b), nil
}

// contains: a string contains a substring, a map contains a key.
func (r *renderer) contains(a, b value) (bool, error) {
	if b == nil {
		return false, nil
	}
	switch a := a.(type) {
	case string:
		if err := r.charge(len(a)); err != nil {
			return false, err
		}
		return strings.Contains(a, toString(b)), nil
	case map[string]any:
		k, ok := b.(string)
		if !ok {
			return false, nil
		}
		_, found := a[k]
		return found, nil
	case map[string]string:
		k, ok := b.(string)
		if !ok {
			return false, nil
		}
		_, found := a[k]
		return found, nil
	}
	return false, nil
}

// size is the size property and filter: characters of a string, entries of
// a map, 0 for anything else.
func size(v value) int64 {
	switch v := v.(type) {
	case string:
		return int64(utf8.RuneCountInString(v))
	case map[string]any:
		return int64(len(v))
	case map[string]string:
		return int64(len(v))
	}
	return 0
}

// Numbers for the arithmetic filters.

// toNumber converts a value as Liquid's arithmetic filters do: numbers as
// they are; a string that looks like a decimal ("1.5") as a float; any other
// string by its leading integer ("12abc" is 12, "abc" is 0); anything else 0.
func toNumber(v value) value {
	switch v := v.(type) {
	case int64, float64:
		return v
	case string:
		s := strings.TrimSpace(v)
		if looksDecimal(s) {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
		}
		return leadingInt(v)
	}
	return int64(0)
}

// looksDecimal matches -?\d+\.\d+.
func looksDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	dot := strings.IndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != dot && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// leadingInt parses an optional sign and digits after leading whitespace,
// like Ruby's String#to_i. A number too large for int64 becomes a float.
func leadingInt(s string) value {
	s = trimLeftSpace(s)
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i {
		return int64(0)
	}
	if n, err := strconv.ParseInt(s[:j], 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(s[:j], 64) // ±Inf past float64's range
	return f
}

// arith applies +, -, * or / (op) to two numbers. Integers give integers
// (division rounds toward negative infinity, as in Ruby), falling back to
// floats on overflow; a float operand gives a float computed from the
// operands' decimal forms, as Liquid does with BigDecimal, so 0.1 plus 0.2
// is 0.3. Division by zero is an error.
func arith(op byte, a, b value) (value, error) {
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			if v, ok := intArith(op, x, y); ok {
				return v, nil
			}
			if op == '/' && y == 0 {
				return nil, errDivZero
			}
		}
	}
	x, y := asFloat(a), asFloat(b)
	if op == '/' && y == 0 {
		return nil, errDivZero
	}
	if math.IsInf(x, 0) || math.IsInf(y, 0) || math.IsNaN(x) || math.IsNaN(y) {
		switch op {
		case '+':
			return x + y, nil
		case '-':
			return x - y, nil
		case '*':
			return x * y, nil
		}
		return x / y, nil
	}
	rx, ry := decimalRat(a), decimalRat(b)
	switch op {
	case '+':
		rx.Add(rx, ry)
	case '-':
		rx.Sub(rx, ry)
	case '*':
		rx.Mul(rx, ry)
	default:
		rx.Quo(rx, ry)
	}
	f, _ := rx.Float64()
	return f, nil
}

type divZeroError struct{}

func (divZeroError) Error() string { return "divided by 0" }

var errDivZero error = divZeroError{}

func intArith(op byte, x, y int64) (int64, bool) {
	switch op {
	case '+':
		s := x + y
		return s, (s > x) == (y > 0)
	case '-':
		d := x - y
		return d, (d < x) == (y > 0)
	case '*':
		if x == 0 || y == 0 {
			return 0, true
		}
		p := x * y
		if p/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
			return 0, false
		}
		return p, true
	}
	if y == 0 || (x == math.MinInt64 && y == -1) {
		return 0, false
	}
	q := x / y
	if x%y != 0 && (x < 0) != (y < 0) {
		q--
	}
	return q, true
}

func asFloat(v value) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// decimalRat is a finite number as the exact value of its shortest decimal
// form.
func decimalRat(v value) *big.Rat {
	r := new(big.Rat)
	switch v := v.(type) {
	case int64:
		r.SetInt64(v)
	case float64:
		r.SetString(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return r
}
