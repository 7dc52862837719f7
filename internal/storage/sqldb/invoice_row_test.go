package sqldb

import (
	"database/sql"
	"testing"
)

// TestTextColsInt64 holds the text decoding of a PostgreSQL list's
// integer columns (textCols) to what database/sql's scan makes of them:
// the value, or an error where the scan would fail, never a guess.
func TestTextColsInt64(t *testing.T) {
	tests := []struct {
		name    string
		col     []byte
		want    int64
		wantErr bool
	}{
		{"zero", []byte("0"), 0, false},
		{"microseconds", []byte("1765153981813945"), 1765153981813945, false},
		{"18 digits", []byte("999999999999999999"), 999999999999999999, false},
		{"max int64", []byte("9223372036854775807"), 9223372036854775807, false},
		{"negative", []byte("-42"), -42, false},
		{"min int64", []byte("-9223372036854775808"), -9223372036854775808, false},
		{"leading zeros", []byte("007"), 7, false},
		{"overflow", []byte("9223372036854775808"), 0, true},
		{"not a number", []byte("12a"), 0, true},
		{"decimal", []byte("1.5"), 0, true},
		{"empty", []byte(""), 0, true},
		{"NULL", nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cols := textCols{cols: [][]byte{tc.col}}
			got := cols.int64(0)
			if tc.wantErr {
				if cols.err == nil {
					t.Fatalf("int64(%q) = %d, no error", tc.col, got)
				}
				return
			}
			if cols.err != nil || got != tc.want {
				t.Fatalf("int64(%q) = %d, %v; want %d", tc.col, got, cols.err, tc.want)
			}
		})
	}
}

// TestTextColsNulls: a NULL reads as an invalid Null value where the
// destination can hold one, and is an error where it cannot, as a scan
// into a string, int64 or bool is; booleans are PostgreSQL's t and f.
func TestTextColsNulls(t *testing.T) {
	cols := textCols{cols: [][]byte{nil, []byte("t"), []byte("f"), []byte("x"), []byte("")}}
	if v := cols.nullStr(0); v.Valid || cols.err != nil {
		t.Errorf("nullStr(NULL) = %+v, %v", v, cols.err)
	}
	if v := cols.nullInt64(0); v.Valid || cols.err != nil {
		t.Errorf("nullInt64(NULL) = %+v, %v", v, cols.err)
	}
	if v := cols.nullBool(1); v != (sql.NullBool{Bool: true, Valid: true}) || cols.bool(2) || cols.err != nil {
		t.Errorf("nullBool(t) = %+v, bool(f) true or %v", v, cols.err)
	}
	if v := cols.str(4); v != "" || cols.err != nil {
		t.Errorf("str('') = %q, %v; want the empty string", v, cols.err)
	}
	for name, read := range map[string]func(){
		"str":       func() { cols.str(0) },
		"shared":    func() { cols.shared(0) },
		"int64":     func() { cols.int64(0) },
		"bool NULL": func() { cols.bool(0) },
		"bool x":    func() { cols.bool(3) },
	} {
		cols.err = nil
		read()
		if cols.err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestTextColsShared: a column that repeats its text returns the same
// value; one that changes returns the new text, not the old.
func TestTextColsShared(t *testing.T) {
	var cols textCols
	for _, row := range []string{"new", "new", "settled", "", "new"} {
		cols.cols = [][]byte{[]byte(row)}
		if got := cols.shared(0); got != row || cols.err != nil {
			t.Fatalf("shared = %q, %v; want %q", got, cols.err, row)
		}
	}
}
