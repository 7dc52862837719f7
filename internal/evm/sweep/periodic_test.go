package sweep_test

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/cryptopay/cryptopay/internal/evm/sweep"
)

// source is a TargetSource that lists fixed targets and counts its calls.
type source struct {
	mu      sync.Mutex
	calls   int
	targets []sweep.Target
}

func (s *source) SweepTargets(context.Context) ([]sweep.Target, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.targets, nil
}

// TestRunSweepsPeriodically runs the periodic sweeper against the simulated
// chain, with blocks mined in the background, until the paid address's
// ether reaches the receiver, then stops it.
func TestRunSweepsPeriodically(t *testing.T) {
	w := newWorld(t)
	w.mine(w.send(w.payer, &w.receiver, big.NewInt(1), nil))
	w.pay("inv_run", ether, 0)
	s := w.sweeper(sweep.Config{}, &recorder{})
	src := &source{targets: []sweep.Target{{InvoiceID: "inv_run", Receiver: w.receiver,
		Expected: map[common.Address]*big.Int{sweep.Ether: ether}}}}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the chain: a block every 20 ms
		defer wg.Done()
		for ctx.Err() == nil {
			w.sim.Commit()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, src, 100*time.Millisecond, 10*time.Millisecond) }()

	want := new(big.Int).Add(ether, big.NewInt(1))
	deadline := time.Now().Add(20 * time.Second)
	for w.balance(w.receiver).Cmp(want) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("receiver holds %s after 20 s, want %s", w.balance(w.receiver), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	wg.Wait()
}
