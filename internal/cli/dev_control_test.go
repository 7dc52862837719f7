package cli

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestControlBodiesAreDecodedStrictly sends the sandbox's control endpoint
// bodies a lenient parser would act on (a field spelled in another case, a
// duplicate, a number in a string, an unknown field, trailing data): each
// is a 400 naming the field, refused before any chain is touched (this
// control has no chain: acting would panic).
func TestControlBodiesAreDecodedStrictly(t *testing.T) {
	c := &control{token: "tok", a: &app{log: slog.New(slog.DiscardHandler)}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mine", c.handle(c.mine))
	mux.HandleFunc("POST /reorg", c.handle(c.reorg))
	mux.HandleFunc("POST /pay", c.handle(c.pay))
	cases := []struct {
		name, path, body, want string
	}{
		{"name in another case", "/mine", `{"N":3}`, "N"},
		{"duplicate name", "/mine", `{"n":1,"n":3}`, "n"},
		{"number in a string", "/reorg", `{"n":"2"}`, "n"},
		{"unknown field", "/reorg", `{"n":2,"deep":true}`, "deep"},
		{"trailing data", "/mine", `{"n":1} {"n":2}`, "one JSON object"},
		{"pay with an unknown field", "/pay", `{"invoice":"inv_x","amont":"1"}`, "amont"},
		{"pay with a bool in a string", "/pay", `{"invoice":"inv_x","rbf":"true"}`, "rbf"},
		{"pay with invalid UTF-8", "/pay", "{\"invoice\":\"inv_\xff\"}", "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer tok")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			var got struct{ Error string }
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			if rec.Code != http.StatusBadRequest || !strings.Contains(got.Error, tc.want) {
				t.Errorf("%s %s → %d %q, want 400 mentioning %q", tc.path, tc.body, rec.Code, got.Error, tc.want)
			}
		})
	}
	t.Run("a body not sent as JSON", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/mine", strings.NewReader(`n=3`))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("a form body → %d %s, want 415", rec.Code, rec.Body)
		}
	})
}
