// Package contracts holds the Solidity source of the gateway's EVM contracts
// (the deposit-address Forwarder and its ForwarderFactory) and their compiled
// artifacts, committed beside the source and embedded here. build.sh
// recompiles them with the pinned solc; CI runs it with --check and fails on
// any difference, so the bytecode the gateway deploys is the one the source
// says. It only carries bytes: deploying and calling them is
// internal/evm/forwarder's job.
package contracts

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed out/*.json
var out embed.FS

// Artifact is one compiled contract.
type Artifact struct {
	Name     string
	Compiler string
	// ABI is the contract's JSON ABI.
	ABI string
	// Bytecode is the creation code (constructor arguments not included).
	Bytecode []byte
	// DeployedBytecode is the runtime code the creation code returns.
	DeployedBytecode []byte
}

// Forwarder is the logic every deposit address delegates to.
var Forwarder = mustLoad(out, "out/Forwarder.json")

// ForwarderFactory deploys the Forwarder and, with CREATE2, deposit addresses.
var ForwarderFactory = mustLoad(out, "out/ForwarderFactory.json")

// ParseArtifact decodes one artifact file written by build.js. It fails on
// malformed JSON, a missing field or bytecode that is not 0x-prefixed hex.
func ParseArtifact(data []byte) (Artifact, error) {
	var raw struct {
		ContractName     string          `json:"contractName"`
		Compiler         string          `json:"compiler"`
		ABI              json.RawMessage `json:"abi"`
		Bytecode         string          `json:"bytecode"`
		DeployedBytecode string          `json:"deployedBytecode"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Artifact{}, fmt.Errorf("contracts: artifact: %w", err)
	}
	if raw.ContractName == "" || len(raw.ABI) == 0 {
		return Artifact{}, fmt.Errorf("contracts: artifact: contractName and abi are required")
	}
	a := Artifact{Name: raw.ContractName, Compiler: raw.Compiler, ABI: string(raw.ABI)}
	var err error
	if a.Bytecode, err = decodeHex(raw.Bytecode); err != nil {
		return Artifact{}, fmt.Errorf("contracts: artifact %s: bytecode: %w", raw.ContractName, err)
	}
	if a.DeployedBytecode, err = decodeHex(raw.DeployedBytecode); err != nil {
		return Artifact{}, fmt.Errorf("contracts: artifact %s: deployedBytecode: %w", raw.ContractName, err)
	}
	if len(a.Bytecode) == 0 {
		return Artifact{}, fmt.Errorf("contracts: artifact %s: empty bytecode", raw.ContractName)
	}
	return a, nil
}

func decodeHex(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("not 0x-prefixed")
	}
	return hex.DecodeString(rest)
}

// MustLoad reads and parses an artifact from fsys and panics if it cannot:
// artifacts are committed files, so a failure is a broken build.
func MustLoad(fsys embed.FS, name string) Artifact {
	return mustLoad(fsys, name)
}

func mustLoad(fsys embed.FS, name string) Artifact {
	data, err := fsys.ReadFile(name)
	if err != nil {
		panic(err)
	}
	a, err := ParseArtifact(data)
	if err != nil {
		panic(err)
	}
	return a
}
