package storage

import "context"

// Priority. The chain path (the watcher's settlement steps, its expiry
// pass, its lease) must not queue behind API writes: a payment broadcast
// while many clients create invoices must still be stored within
// milliseconds. A context marked WithPriority asks the engine to run the
// transactions and reads made with it ahead of unmarked work: SQLite's
// group committer runs them in a batch of their own before the callers
// already waiting, cutting short a batch in progress; PostgreSQL runs them
// on a small connection pool that unmarked work never uses. Isolation and
// durability are the same as for any InTx.
//
// Mark only work that is small and latency-critical: a marked caller never
// waits for unmarked ones, and a steady stream of marked writes would
// starve them.

type priorityKey struct{}

// WithPriority returns ctx marked so that the storage work done with it
// goes ahead of unmarked work.
func WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

// IsPriority reports whether ctx was marked by WithPriority.
func IsPriority(ctx context.Context) bool {
	p, _ := ctx.Value(priorityKey{}).(bool)
	return p
}
