package sweep_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSweepCannotChangeInvoiceState asserts, through the package's
// transitive imports, that sweeping cannot reach the store or the invoice
// service: it can move money to receivers and report what it found, never
// change an invoice.
func TestSweepCannotChangeInvoiceState(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/storage", "/internal/gateway", "/internal/watcher", "/internal/tracker"} {
			if strings.HasPrefix(dep, "github.com/cryptopay/cryptopay"+banned) {
				t.Errorf("sweep imports %s", dep)
			}
		}
	}
}
