// Package evmblackbox holds the black-box test of the gateway's EVM support
// against a real node process: anvil (Foundry's dev node, installed from its
// pinned npm package and named by CRYPTOPAY_ANVIL) and the real `cryptopay`
// binary, driven only through what a shop and an operator use: the
// operator CLI, the HTTP API with an API key, signed webhooks to an HTTP
// receiver, and plain transfers on the chain. The in-process simulated
// chain tests of internal/evm/evmsource cover the rules in detail; this one
// checks that the pieces work together against a node the project did not
// write. The package has no code outside its test.
package evmblackbox
