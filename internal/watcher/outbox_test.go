package watcher_test

import (
	"go/build"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// TestNewRefusesAWatcherWithoutAnOutbox: a watcher built without an outbox
// would write payment and invoice events whose deliveries nobody queues;
// it is refused at construction.
func TestNewRefusesAWatcherWithoutAnOutbox(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "Outbox is required") {
			t.Fatalf("New without an outbox: recovered %v; want a panic naming Config.Outbox", r)
		}
	}()
	watcher.New(watcher.Config{DB: testdb.SQLite(t)})
	t.Fatal("New without an outbox returned a watcher")
}

// TestWatcherImportsNoWebhookCode: the watcher is chain-agnostic and
// reaches webhooks only through the Outbox it declares; it imports neither
// the webhook package nor the job queue.
func TestWatcherImportsNoWebhookCode(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "github.com/cryptopay/cryptopay/internal/webhook" || strings.HasPrefix(imp, "github.com/riverqueue/") ||
			strings.HasPrefix(imp, "github.com/cryptopay/cryptopay/internal/bitcoin") {
			t.Errorf("the watcher imports %s", imp)
		}
	}
}
