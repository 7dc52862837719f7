package strictjson

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cryptopay/cryptopay"
)

// order is a request shaped like the API's: strings, an integer, a bool,
// an array and a map.
type order struct {
	OrderID   string            `json:"order_id"`
	Amount    string            `json:"amount"`
	Metadata  map[string]string `json:"metadata"`
	ExpiresIn *int64            `json:"expires_in"`
	IPs       []string          `json:"allowed_ips"`
	Enabled   *bool             `json:"enabled"`
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name, body string
		param      string // "" with ok: accepted
		ok         bool
	}{
		{"a plain object", `{"order_id":"a","amount":"1.00","expires_in":600,"enabled":true,"allowed_ips":["::1"],"metadata":{"k":"v"}}`, "", true},
		{"surrounding space", " \n{}\t ", "", true},
		{"escapes decoded", `{"order_id":"\u00e9\n"}`, "", true},
		{"name in another case", `{"Amount":"5"}`, "Amount", false},
		{"duplicate name", `{"amount":"1","amount":"5"}`, "amount", false},
		{"duplicate through an escape", `{"amount":"1","\u0061mount":"5"}`, "amount", false},
		{"duplicate metadata key", `{"metadata":{"a":"1","a":"2"}}`, "metadata[a]", false},
		{"unknown name", `{"colour":"red"}`, "colour", false},
		{"invalid UTF-8 in a value", "{\"order_id\":\"a\xffb\"}", "order_id", false},
		{"a lone surrogate escape", `{"order_id":"\ud800"}`, "order_id", false},
		{"integer as a string", `{"expires_in":"600"}`, "expires_in", false},
		{"integer with a fraction", `{"expires_in":90.5}`, "expires_in", false},
		{"integer in exponent notation", `{"expires_in":6e2}`, "expires_in", false},
		{"integer too large", `{"expires_in":99999999999999999999}`, "expires_in", false},
		{"string as a number", `{"amount":10.5}`, "amount", false},
		{"bool as a string", `{"enabled":"true"}`, "enabled", false},
		{"array item of another type", `{"allowed_ips":["::1",2]}`, "allowed_ips[1]", false},
		{"metadata value of another type", `{"metadata":{"n":1}}`, "metadata[n]", false},
		{"null member", `{"order_id":null}`, "order_id", false},
		{"null in an array", `{"allowed_ips":[null]}`, "allowed_ips[0]", false},
		{"null body", `null`, "", false},
		{"array body", `[]`, "", false},
		{"empty body", ``, "", false},
		{"trailing garbage", `{}x`, "", false},
		{"two objects", `{}{}`, "", false},
		{"truncated", `{"order_id":"a"`, "", false},
		{"nested too deep", `{"metadata":` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth+1), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v order
			err := Decode([]byte(tc.body), &v)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e, isAPI := errors.AsType[*cryptopay.Error](err)
			if !isAPI || e.Code != cryptopay.CodeInvalid || e.Param != tc.param || e.Message == "" {
				t.Fatalf("got %v, want an invalid_request naming %q", err, tc.param)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics, fails only with an
// invalid_request, and that whatever it accepts is read the same way by a
// lenient decoder (the standard library's v1, case-insensitive and last
// duplicate wins): an accepted body leaves a shop and the gateway nothing
// to disagree about.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"order_id":"a","amount":"1.00","expires_in":600,"enabled":true,"allowed_ips":["::1"],"metadata":{"k":"v"}}`,
		`{"Amount":"5","amount":"1"}`, `{"amount":"1","amount":"5"}`, "{\"order_id\":\"\xff\"}", `{"expires_in":"600"}`,
		`{"metadata":{"a":"1","A":"2"}}`, `{}`, `[]`, `null`, `{"a":{"b":[[[]]]}}`, `{"order_id":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var strict order
		err := Decode(body, &strict)
		if err != nil {
			if e, ok := errors.AsType[*cryptopay.Error](err); !ok || e.Code != cryptopay.CodeInvalid || e.Message == "" {
				t.Fatalf("%q: error %v is not an invalid_request", body, err)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("%q: accepted invalid UTF-8", body)
		}
		var lenient order
		dec := stdjson.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&lenient); err != nil {
			t.Fatalf("%q: accepted, but the standard decoder refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(strict, lenient) {
			t.Fatalf("%q: read as %+v strictly and %+v leniently", body, strict, lenient)
		}
	})
}

func TestCheckContentType(t *testing.T) {
	for _, tc := range []struct {
		ct string
		ok bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON;charset=UTF-8", true},
		{"", false},
		{"text/plain", false},
		{"application/x-www-form-urlencoded", false},
		{"multipart/form-data; boundary=x", false},
		{"application/json; charset=latin1", false},
		{"application/json; boundary=x", false},
		{"application/jsonx", false},
		{"application/problem+json", false},
		{"application/json;;", false},
	} {
		err := CheckContentType(tc.ct)
		if tc.ok != (err == nil) {
			t.Errorf("CheckContentType(%q) = %v, want ok=%v", tc.ct, err, tc.ok)
		}
		if e, isAPI := errors.AsType[*cryptopay.Error](err); err != nil && (!isAPI || e.Code != cryptopay.CodeUnsupportedMediaType || e.Param != "Content-Type") {
			t.Errorf("CheckContentType(%q): %v is not a 415 naming Content-Type", tc.ct, err)
		}
	}
}

// TestDecodeAfterDecode: the token scanners are reused between bodies, so
// nothing one body leaves behind (a name seen, a failure midway, a deep
// stack, a large buffer) may change how the next is read.
func TestDecodeAfterDecode(t *testing.T) {
	big := `{"order_id":"` + strings.Repeat("x", 200<<10) + `"}`
	for _, prev := range []string{
		`{"amount":"1","amount":"2"}`,
		`{"metadata":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{}}}}}}}}}}`,
		`{"amount":"1"`,
		"{\"order_id\":\"\xff\"}",
		`{"order_id":"a"} {}`,
		big,
	} {
		for range 3 {
			var o order
			_ = Decode([]byte(prev), &o)
			o = order{}
			if err := Decode([]byte(`{"amount":"5.00","metadata":{"a":"1"}}`), &o); err != nil || o.Amount != "5.00" || o.Metadata["a"] != "1" {
				t.Fatalf("after %.40q: %+v, %v", prev, o, err)
			}
			if err := Decode([]byte(`{"amount":"1","amount":"2"}`), &o); err == nil {
				t.Fatalf("after %.40q: a duplicate name is accepted", prev)
			}
		}
	}
}

// BenchmarkDecode decodes the body of a typical invoice creation, the
// API's most frequent request: -benchmem shows what strict decoding
// costs each one.
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"order_id":"bench-12345","amount":"0.0015","currency":"BTC","metadata":{"sku":"A-1"}}`)
	var v struct {
		OrderID  string            `json:"order_id"`
		Amount   string            `json:"amount"`
		Currency string            `json:"currency"`
		Metadata map[string]string `json:"metadata"`
	}
	b.ReportAllocs()
	for b.Loop() {
		v.Metadata = nil
		if err := Decode(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
