// Package testtoken holds small Solidity contracts that the forwarder's tests
// deploy on a simulated chain: a 6-decimal token that returns bool, a
// USDT-like token that returns nothing, a token that returns false, and a
// receiver that refuses ether. They are compiled with the production
// contracts (contracts/build.sh) and are never deployed outside tests and
// the developer sandbox's in-process chain (internal/devnet), where
// BoolToken and NoBoolToken stand in for USDC and USDT.
package testtoken

import (
	"embed"

	"github.com/cryptopay/cryptopay/contracts"
)

//go:embed out/*.json
var out embed.FS

var (
	// BoolToken is a standard 6-decimal ERC-20 (transfer returns true), like USDC.
	BoolToken = contracts.MustLoad(out, "out/BoolToken.json")
	// NoBoolToken's transfer returns nothing, like USDT on Ethereum.
	NoBoolToken = contracts.MustLoad(out, "out/NoBoolToken.json")
	// FalseToken's transfer returns false and moves nothing.
	FalseToken = contracts.MustLoad(out, "out/FalseToken.json")
	// EtherRefuser reverts on any ether sent to it.
	EtherRefuser = contracts.MustLoad(out, "out/EtherRefuser.json")
)
