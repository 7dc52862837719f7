package config

import (
	"fmt"
	"strconv"
	"time"
)

// Bitcoin configures the Bitcoin chain watcher. With an empty RPCURL no
// watcher runs: invoices are created, but nothing sees them paid.
type Bitcoin struct {
	Network      string // bitcoin, bitcoin-testnet, bitcoin-signet or bitcoin-regtest
	RPCURL       string
	RPCUser      string
	RPCPassword  string // a secret: environment or config file only
	CookieFile   string
	WebsocketURL string // btcd push notifications; default derived from RPCURL
	PollInterval time.Duration
	SafetyLimit  int
	LeaseTTL     time.Duration // leadership among instances sharing a database
}

var bitcoinVars = []Var{
	{"CRYPTOPAY_BITCOIN_RPC_URL", "", "Bitcoin node JSON-RPC URL (Bitcoin Core or btcd), e.g. http://127.0.0.1:8332; unset runs no watcher."},
	{"CRYPTOPAY_BITCOIN_NETWORK", "bitcoin", "Network of that node: bitcoin, bitcoin-testnet, bitcoin-signet or bitcoin-regtest."},
	{"CRYPTOPAY_BITCOIN_RPC_USER", "", "RPC user name."},
	{"CRYPTOPAY_BITCOIN_RPC_PASSWORD", "", "RPC password (a secret: environment or config file only)."},
	{"CRYPTOPAY_BITCOIN_RPC_COOKIE_FILE", "", "Bitcoin Core's .cookie file, used when no user is set."},
	{"CRYPTOPAY_BITCOIN_WEBSOCKET_URL", "<rpc url>/ws", "btcd's notification websocket; Bitcoin Core has none and is polled."},
	{"CRYPTOPAY_BITCOIN_POLL_INTERVAL", "1s", "How often the node is polled when it cannot push, and the longest a pushing node goes unchecked."},
	{"CRYPTOPAY_BITCOIN_REORG_LIMIT", "100", "Deepest reorganisation handled automatically; a deeper one stops crediting and raises an alert. No store may require more confirmations."},
	{"CRYPTOPAY_BITCOIN_LEASE_TTL", "15s", "Among instances sharing a PostgreSQL database one watches the chain, holding a lease it renews every third of this; a stopped leader is replaced within about 1⅓ of it."},
}

func loadBitcoin(env func(string) string) (Bitcoin, error) {
	b := Bitcoin{
		Network:      or(env("CRYPTOPAY_BITCOIN_NETWORK"), "bitcoin"),
		RPCURL:       env("CRYPTOPAY_BITCOIN_RPC_URL"),
		RPCUser:      env("CRYPTOPAY_BITCOIN_RPC_USER"),
		RPCPassword:  env("CRYPTOPAY_BITCOIN_RPC_PASSWORD"),
		CookieFile:   env("CRYPTOPAY_BITCOIN_RPC_COOKIE_FILE"),
		WebsocketURL: env("CRYPTOPAY_BITCOIN_WEBSOCKET_URL"),
	}
	var err error
	if b.PollInterval, err = time.ParseDuration(or(env("CRYPTOPAY_BITCOIN_POLL_INTERVAL"), "1s")); err != nil || b.PollInterval <= 0 {
		return b, fmt.Errorf("CRYPTOPAY_BITCOIN_POLL_INTERVAL: want a positive duration such as 1s")
	}
	if b.SafetyLimit, err = strconv.Atoi(or(env("CRYPTOPAY_BITCOIN_REORG_LIMIT"), "100")); err != nil || b.SafetyLimit < 6 || b.SafetyLimit > 10000 {
		return b, fmt.Errorf("CRYPTOPAY_BITCOIN_REORG_LIMIT: want a whole number from 6 to 10000")
	}
	if b.LeaseTTL, err = time.ParseDuration(or(env("CRYPTOPAY_BITCOIN_LEASE_TTL"), "15s")); err != nil || b.LeaseTTL < time.Second || b.LeaseTTL > 10*time.Minute {
		return b, fmt.Errorf("CRYPTOPAY_BITCOIN_LEASE_TTL: want a duration from 1s to 10m such as 15s")
	}
	return b, nil
}
