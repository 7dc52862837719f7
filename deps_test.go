package cryptopay

import (
	"go/build"
	"strings"
	"testing"
)

// TestDomainImportsOnlyTheStandardLibrary keeps the layering true: the
// domain must never import a database driver, net/http or an adapter.
func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") {
			t.Errorf("the domain imports %s; only the standard library is allowed", imp)
		}
		switch imp {
		case "net/http", "database/sql", "os/exec":
			t.Errorf("the domain imports %s: that belongs in an adapter under internal/", imp)
		}
	}
}
