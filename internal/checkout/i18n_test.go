package checkout

import (
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// verbs returns the fmt verbs of a format as "argument:verb", numbering
// implicit arguments as fmt does, sorted: two formats agree when they use
// the same arguments the same way, in whatever order the language needs.
var verbRE = regexp.MustCompile(`%(\[(\d+)\])?([a-zA-Z%])`)

func verbs(format string) []string {
	var out []string
	next := 1
	for _, m := range verbRE.FindAllStringSubmatch(format, -1) {
		if m[3] == "%" {
			continue
		}
		arg := next
		if m[2] != "" {
			arg, _ = strconv.Atoi(m[2])
		}
		next = arg + 1
		out = append(out, strconv.Itoa(arg)+":"+m[3])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestCataloguesAreComplete: every catalogue has every key, non-empty,
// with the same format arguments as English, and every payment status.
func TestCataloguesAreComplete(t *testing.T) {
	en := reflect.ValueOf(English)
	typ := en.Type()
	seen := map[string]bool{}
	for _, c := range Catalogues() {
		t.Run(c.Lang, func(t *testing.T) {
			if seen[c.Lang] {
				t.Fatalf("language %s twice", c.Lang)
			}
			seen[c.Lang] = true
			v := reflect.ValueOf(*c)
			for i := range typ.NumField() {
				f := typ.Field(i)
				switch got, want := v.Field(i), en.Field(i); f.Type.Kind() {
				case reflect.String:
					if got.String() == "" && f.Name != "GroupSep" {
						t.Errorf("%s is empty", f.Name)
					}
					if g, w := verbs(got.String()), verbs(want.String()); !slices.Equal(g, w) {
						t.Errorf("%s uses %v, English %v: %q", f.Name, g, w, got.String())
					}
				case reflect.Array:
					for j := range got.Len() {
						if got.Index(j).String() == "" {
							t.Errorf("%s[%d] is empty", f.Name, j)
						}
					}
				case reflect.Map:
					for _, k := range want.MapKeys() {
						if s := got.MapIndex(k); !s.IsValid() || s.String() == "" {
							t.Errorf("%s[%s] is missing", f.Name, k)
						}
					}
					if got.Len() != want.Len() {
						t.Errorf("%s has %d entries, English %d", f.Name, got.Len(), want.Len())
					}
				default:
					t.Fatalf("field %s of kind %s: teach this test to check it", f.Name, f.Type.Kind())
				}
			}
		})
	}
	for _, want := range []string{"en", "es", "de", "fr", "pt", "ja"} {
		if !seen[want] {
			t.Errorf("no %s catalogue", want)
		}
	}
}

func TestVerbs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"%s of %d", []string{"1:s", "2:d"}},
		{"%[2]s then %[1]s", []string{"1:s", "2:s"}},
		{"%[3]d年%[2]s%[1]d日 %[4]s", []string{"1:d", "2:s", "3:d", "4:s"}},
		{"100%% sure", nil},
	} {
		if got := verbs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("verbs(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		name, query, accept, want string
	}{
		{"default", "", "", "en"},
		{"accept-language", "", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"regional variant", "", "pt-BR", "pt"},
		{"weights", "", "fr;q=0.2, ja;q=0.9", "ja"},
		{"unsupported falls back", "", "sw, zu", "en"},
		{"garbage", "", ";;;q=,,", "en"},
		{"query wins", "lang=es", "ja", "es"},
		{"query in capitals", "lang=FR", "", "fr"},
		{"unknown query ignored", "lang=xx", "de", "de"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/pay/x?"+c.query, nil)
			if c.accept != "" {
				r.Header.Set("Accept-Language", c.accept)
			}
			if got := negotiate(r).Lang; got != c.want {
				t.Fatalf("negotiate = %s, want %s", got, c.want)
			}
		})
	}
}

func TestNumberDateDuration(t *testing.T) {
	for _, c := range []struct {
		c        *Catalogue
		in, want string
	}{
		{&English, "65000.00", "65,000.00"},
		{&German, "65000.00", "65.000,00"},
		{&French, "1234567.5", "1\u202f234\u202f567,5"},
		{&Japanese, "0.00100000", "0.00100000"},
		{&Spanish, "0.00100000", "0,00100000"},
		{&English, "999", "999"},
		{&English, "-1000", "-1,000"},
	} {
		if got := c.c.Number(c.in); got != c.want {
			t.Errorf("%s Number(%s) = %q, want %q", c.c.Lang, c.in, got, c.want)
		}
	}
	at := time.Date(2026, 3, 4, 17, 5, 0, 0, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		c    *Catalogue
		want string
	}{
		{&English, "4 Mar 2026, 16:05 UTC"},
		{&German, "4. März 2026, 16:05 UTC"},
		{&Japanese, "2026年3月4日 16:05 UTC"},
		{&Portuguese, "4 de mar. de 2026, 16:05 UTC"},
	} {
		if got := c.c.Date(at); got != c.want {
			t.Errorf("%s Date = %q, want %q", c.c.Lang, got, c.want)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "1 min"}, {10 * time.Minute, "10 min"}, {2 * time.Hour, "2 h"}, {230 * time.Minute, "3 h 50 min"},
	} {
		if got := English.Duration(c.d); got != c.want {
			t.Errorf("Duration(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}
