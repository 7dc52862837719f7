package checkout

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// catalogues are the page's languages, English first (the fallback).
var catalogues = []*Catalogue{&English, &Spanish, &German, &French, &Portuguese, &Japanese}

// Catalogues returns the page's languages, English first.
func Catalogues() []*Catalogue { return append([]*Catalogue(nil), catalogues...) }

var matcher = func() language.Matcher {
	tags := make([]language.Tag, len(catalogues))
	for i, c := range catalogues {
		tags[i] = language.MustParse(c.Lang)
	}
	return language.NewMatcher(tags)
}()

// negotiate picks the request's language: ?lang= when it names one of the
// page's languages, else the best match of Accept-Language, else English.
func negotiate(r *http.Request) *Catalogue {
	if q := strings.ToLower(r.URL.Query().Get("lang")); q != "" {
		for _, c := range catalogues {
			if c.Lang == q {
				return c
			}
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return &English
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return &English
	}
	return catalogues[i]
}

// Number formats a decimal string written with "." ("65000.00") the
// catalogue's way: its decimal separator, the integer part grouped by
// thousands ("65.000,00" in German).
func (c *Catalogue) Number(dec string) string {
	sign := ""
	if strings.HasPrefix(dec, "-") {
		sign, dec = "-", dec[1:]
	}
	intPart, frac, hasFrac := strings.Cut(dec, ".")
	var b strings.Builder
	for i, d := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(c.GroupSep)
		}
		b.WriteRune(d)
	}
	if hasFrac {
		b.WriteString(c.DecimalSep)
		b.WriteString(frac)
	}
	return sign + b.String()
}

// Date formats an instant in UTC the catalogue's way: day, month, year
// and a 24-hour clock.
func (c *Catalogue) Date(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf(c.DateFormat, t.Day(), c.Months[t.Month()-1], t.Year(), t.Format("15:04"))
}

// Duration formats a wait rounded to minutes ("1 h 30 min"); under a
// minute counts as one.
func (c *Catalogue) Duration(d time.Duration) string {
	m := max(int((d+30*time.Second)/time.Minute), 1)
	switch h, m := m/60, m%60; {
	case h == 0:
		return fmt.Sprintf(c.Minutes, m)
	case m == 0:
		return fmt.Sprintf(c.Hours, h)
	default:
		return fmt.Sprintf(c.HoursMinutes, h, m)
	}
}
