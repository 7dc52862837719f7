package cryptopay

import "time"

// BlockInterval is the network's target time between blocks: what a
// payer's wait for confirmations is estimated from. Regtest and signet
// follow Bitcoin's ten minutes as their nominal rate (regtest mines on
// demand, so its estimate is only nominal).
func (n Network) BlockInterval() time.Duration {
	return 10 * time.Minute
}
