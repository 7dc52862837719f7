package sqldb

import (
	"reflect"
	"testing"
)

// TestColumnArrays: a batch's rows become one typed array per column, a
// column holding a NULL an array of pointers with nil there; a value of
// the wrong Go type is an error, not a panic in the committer.
func TestColumnArrays(t *testing.T) {
	one, two := "a", int64(7)
	tests := []struct {
		name    string
		types   []string
		rows    [][]any
		want    []any
		wantErr bool
	}{
		{"values", []string{"TEXT", "BIGINT", "BOOLEAN", "BYTEA"},
			[][]any{{"a", int64(1), true, []byte("x")}, {"b", 2, false, []byte{}}},
			[]any{[]string{"a", "b"}, []int64{1, 2}, []bool{true, false}, [][]byte{[]byte("x"), {}}}, false},
		{"nulls", []string{"TEXT", "BIGINT"},
			[][]any{{"a", nil}, {nil, int64(7)}},
			[]any{[]*string{&one, nil}, []*int64{nil, &two}}, false},
		{"text column given an integer", []string{"TEXT"}, [][]any{{int64(1)}}, nil, true},
		{"integer column given text", []string{"BIGINT"}, [][]any{{"1"}}, nil, true},
		{"unknown column type", []string{"NUMERIC"}, [][]any{{"1"}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newArrays(tt.types)
			for _, r := range tt.rows {
				c.add(r)
			}
			got, err := c.args()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("args() = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("args() = %#v, want %#v", got, tt.want)
			}
		})
	}
}
