package storage

import (
	"strings"
	"testing"
	"time"
)

// TestAuditRecordEntry: every writer's entries share one format: an aud_
// id, details as one canonical JSON object whatever the map's order ("{}"
// for none), and the time in UTC to the microsecond.
func TestAuditRecordEntry(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		name    string
		details map[string]any
		want    string
	}{
		{"no details", nil, "{}"},
		{"empty details", map[string]any{}, "{}"},
		{"keys sorted", map[string]any{"to": "settled", "from": "new", "count": 2}, `{"count":2,"from":"new","to":"settled"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := AuditRecord{StoreID: "sto_x", Actor: "system", Action: "address.blocked", Target: "bc1q",
				Details: tc.details}.Entry(at)
			if err != nil {
				t.Fatal(err)
			}
			if e.Details != tc.want || !strings.HasPrefix(e.ID, AuditIDPrefix+"_") || e.Actor != "system" ||
				e.CreatedAt.Location() != time.UTC || !e.CreatedAt.Equal(at.Truncate(time.Microsecond)) {
				t.Errorf("entry %+v; want details %s, an aud_ id, UTC time %v", e, tc.want, at.Truncate(time.Microsecond).UTC())
			}
		})
	}
	if _, err := (AuditRecord{Action: "x", Details: map[string]any{"bad": func() {}}}).Entry(at); err == nil {
		t.Error("details that cannot be encoded: no error")
	}
}
