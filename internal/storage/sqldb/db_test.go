package sqldb

import (
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name, in, dollar string
	}{
		{"none", "SELECT 1", "SELECT 1"},
		{"one", "SELECT * FROM t WHERE id = ?", "SELECT * FROM t WHERE id = $1"},
		{"many", "VALUES (?, ?, ?)", "VALUES ($1, $2, $3)"},
		{"ten and more", strings.Repeat("?,", 11), "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &queries{d: &Dialect{DollarPlaceholders: true}}
			if got := q.rebind(tc.in); got != tc.dollar {
				t.Errorf("postgres rebind = %q, want %q", got, tc.dollar)
			}
			q.d.DollarPlaceholders = false
			if got := q.rebind(tc.in); got != tc.in {
				t.Errorf("sqlite rebind changed %q to %q", tc.in, got)
			}
		})
	}
}

// FuzzRebind checks that rebinding numbers every placeholder once, in
// order, and changes nothing else.
func FuzzRebind(f *testing.F) {
	f.Add("SELECT ? FROM t WHERE a = ? AND b = '?'")
	f.Add("?$1 ?")
	f.Fuzz(func(t *testing.T, in string) {
		q := &queries{d: &Dialect{DollarPlaceholders: true}}
		out := q.rebind(in)
		parts := strings.Split(in, "?")
		var want strings.Builder
		for i, p := range parts {
			if i > 0 {
				want.WriteString("$" + strconv.Itoa(i))
			}
			want.WriteString(p)
		}
		if out != want.String() {
			t.Fatalf("rebind(%q) = %q, want %q", in, out, want.String())
		}
	})
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    int
		wantErr bool
	}{
		{"ordered", fstest.MapFS{"0002_b.sql": file("B"), "0001_a.sql": file("A"), "README": file("x")}, 2, false},
		{"empty", fstest.MapFS{}, 0, false},
		{"gap", fstest.MapFS{"0001_a.sql": file("A"), "0003_c.sql": file("C")}, 0, true},
		{"duplicate", fstest.MapFS{"0001_a.sql": file("A"), "0001_b.sql": file("B")}, 0, true},
		{"bad name", fstest.MapFS{"init.sql": file("A")}, 0, true},
		{"zero", fstest.MapFS{"0000_a.sql": file("A")}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.fs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && len(ms) != tc.want {
				t.Fatalf("%d migrations, want %d", len(ms), tc.want)
			}
			for i, m := range ms {
				if m.version != i+1 {
					t.Errorf("migration %d has version %d", i, m.version)
				}
			}
		})
	}
}
