package devnet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
)

// File names inside the sandbox's data folder.
const (
	StateFile = "sandbox.json" // present while a sandbox runs
	SeedFile  = "wallet.seed"  // the dev wallet's seed, kept across runs
)

// ErrNotRunning means the data folder has no state file: no sandbox runs
// there (or it stopped).
var ErrNotRunning = errors.New("no sandbox is running")

// State is what a running sandbox publishes (mode 0600) for the `dev pay`,
// `dev mine` and `dev reorg` commands, which run as separate processes.
// They ask the sandbox process itself to act, through its control
// endpoint, because it owns the wallet and the nodes; the node fields are
// for a developer who wants to talk to btcd directly.
type State struct {
	PID          int         `json:"pid"`           // the sandbox process
	Control      string      `json:"control"`       // http://127.0.0.1:port of the control endpoint
	ControlToken string      `json:"control_token"` // bearer token for it
	API          string      `json:"api"`           // the gateway's base URL
	Nodes        []NodeState `json:"nodes"`         // main first, then second
	EVM          *EVMState   `json:"evm,omitempty"` // the EVM dev chain
}

// EVMState locates the EVM dev chain and its contracts, for a developer
// who wants to talk to it directly (any JSON-RPC tool, a wallet).
type EVMState struct {
	RPCURL   string `json:"rpc_url"`
	ChainID  int64  `json:"chain_id"`
	Factory  string `json:"factory"`
	USDC     string `json:"usdc"`
	USDT     string `json:"usdt"`
	Wallet   string `json:"wallet"`   // the dev wallet that pays
	Receiver string `json:"receiver"` // the sandbox store's receiving address
}

// NodeState locates one btcd node.
type NodeState struct {
	Name        string `json:"name"`
	PID         int    `json:"pid"`
	RPCURL      string `json:"rpc_url"`
	RPCUser     string `json:"rpc_user"`
	RPCPassword string `json:"rpc_password"`
	P2PAddr     string `json:"p2p_addr"`
}

// NodeStates describes the Net's nodes for a State.
func (n *Net) NodeStates() []NodeState {
	var out []NodeState
	for i, node := range []*regtest.Node{n.main, n.second} {
		out = append(out, NodeState{Name: [...]string{"main", "second"}[i], PID: node.Pid(), RPCURL: node.RPCURL(),
			RPCUser: node.RPCUser(), RPCPassword: node.RPCPassword(), P2PAddr: node.P2PAddr()})
	}
	return out
}

// WriteState writes s to dir/StateFile with mode 0600, replacing the file
// atomically so a reader never sees half of it.
func WriteState(dir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, StateFile), append(b, '\n'))
}

// ReadState reads dir/StateFile. It returns an error wrapping
// ErrNotRunning when the file does not exist, and a description of the
// problem when it cannot be read or parsed.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNotRunning, dir)
	}
	if err != nil {
		return nil, err
	}
	return ParseState(b)
}

// ParseState decodes a state file and checks that its control endpoint is
// a loopback http URL with a token, so a tampered file cannot send the
// token elsewhere.
func ParseState(b []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("devnet: state file: %w", err)
	}
	u, err := url.Parse(s.Control)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Path != "" {
		return nil, fmt.Errorf("devnet: state file: control %q is not http://127.0.0.1:port", s.Control)
	}
	if len(s.ControlToken) < 32 {
		return nil, errors.New("devnet: state file: control token missing or too short")
	}
	return &s, nil
}

// RemoveState deletes dir/StateFile; a missing file is not an error.
func RemoveState(dir string) error {
	err := os.Remove(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// LoadSeed returns the wallet seed kept in dir/SeedFile, creating a random
// 32-byte one (mode 0600) on first use, so the dev wallet and its account
// key stay the same from one run to the next. It returns an error if the
// file exists but does not hold a valid seed.
func LoadSeed(dir string) ([]byte, error) {
	path := filepath.Join(dir, SeedFile)
	b, err := os.ReadFile(path)
	if err == nil {
		seed, err := ParseSeed(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return seed, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	seed := make([]byte, 32)
	_, _ = rand.Read(seed) // crypto/rand.Read never fails on supported platforms
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(seed)+"\n")); err != nil {
		return nil, err
	}
	return seed, nil
}

// ParseSeed decodes a seed file: 32 to 128 hex digits (16 to 64 bytes),
// surrounding white space ignored.
func ParseSeed(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	seed, err := hex.DecodeString(s)
	if err != nil || len(seed) < 16 || len(seed) > 64 {
		return nil, errors.New("want a seed of 32 to 128 hex digits")
	}
	return seed, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
