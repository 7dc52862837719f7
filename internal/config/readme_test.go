package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryVariable keeps the README's configuration table
// in step with Vars: an operator who reads only the README must find every
// variable the gateway reads.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, v := range Vars {
		if !strings.Contains(readme, "| `"+v.Name+"` |") {
			t.Errorf("README.md's configuration table has no row for %s", v.Name)
		}
	}
}
