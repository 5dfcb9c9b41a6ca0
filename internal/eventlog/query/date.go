package query

import (
	"errors"
	"time"
)

var errDate = errors.New("query: invalid date")

// ParseDate parses a date as the date field accepts it and returns the period
// it names as the half-open interval [start, end), in UTC.
//
// Accepted forms, each naming the whole period its precision implies:
//
//	2018                       the year
//	2018-12                    the month
//	2018-12-18                 the day
//	2018-12-18T10              the hour
//	2018-12-18T10:30           the minute
//	2018-12-18T10:30:05        the second
//	2018-12-18T10:30:05.123    the millisecond (1 to 9 fraction digits)
//
// A form with a time may end in Z or a ±hh:mm offset; without one it is UTC.
// Fields out of range (month 13, February 30, hour 24) are errors.
func ParseDate(s string) (start, end time.Time, err error) {
	num := func(i, n int, lo, hi int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, lo <= v && v <= hi
	}
	at := func(i int, c byte) bool { return i < len(s) && s[i] == c }

	year, ok := num(0, 4, 0, 9999)
	if !ok {
		return start, end, errDate
	}
	if len(s) == 4 {
		start = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0), nil
	}
	month, ok := num(5, 2, 1, 12)
	if !ok || !at(4, '-') {
		return start, end, errDate
	}
	if len(s) == 7 {
		start = time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), nil
	}
	day, ok := num(8, 2, 1, 31)
	if !ok || !at(7, '-') || day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return start, end, errDate
	}
	if len(s) == 10 {
		start = time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1), nil
	}
	hour, ok := num(11, 2, 0, 23)
	if !ok || !at(10, 'T') {
		return start, end, errDate
	}
	minute, sec, nsec, unit, i := 0, 0, 0, time.Hour, 13
	if at(i, ':') {
		if minute, ok = num(i+1, 2, 0, 59); !ok {
			return start, end, errDate
		}
		unit, i = time.Minute, i+3
		if at(i, ':') {
			if sec, ok = num(i+1, 2, 0, 59); !ok {
				return start, end, errDate
			}
			unit, i = time.Second, i+3
			if at(i, '.') {
				i++
				digits := 0
				for i < len(s) && '0' <= s[i] && s[i] <= '9' && digits < 9 {
					nsec = nsec*10 + int(s[i]-'0')
					unit /= 10
					digits++
					i++
				}
				if digits == 0 {
					return start, end, errDate
				}
				for range 9 - digits {
					nsec *= 10
				}
			}
		}
	}
	loc := time.UTC
	switch {
	case i == len(s):
	case s[i] == 'Z' && i+1 == len(s):
	case (s[i] == '+' || s[i] == '-') && i+6 == len(s) && at(i+3, ':'):
		oh, ok1 := num(i+1, 2, 0, 23)
		om, ok2 := num(i+4, 2, 0, 59)
		if !ok1 || !ok2 {
			return start, end, errDate
		}
		off := oh*3600 + om*60
		if s[i] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return start, end, errDate
	}
	start = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc).UTC()
	return start, start.Add(unit), nil
}
