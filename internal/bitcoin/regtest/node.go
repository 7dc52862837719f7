// Package regtest starts and drives real btcd nodes on the regression test
// network, and holds a small signing wallet that pays, replaces and
// double-spends its own P2WPKH coins. Tests use it to exercise the gateway
// against a real chain (mempool, confirmations, RBF, reorgs); the `dev`
// subcommand uses it for the developer sandbox.
//
// It is not a chain source for the gateway and not a production wallet: the
// wallet's keys come from a seed the caller hands over, its coin selection is
// naive, and nodes only ever listen on 127.0.0.1. The package never imports
// testing; every call takes a context and returns errors.
package regtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// BtcdPathEnv names the environment variable that overrides where the btcd
// binary is found (useful on machines without a Go toolchain).
const BtcdPathEnv = "CRYPTOPAY_BTCD_PATH"

// Params are the network parameters of every node this package starts.
var Params = &chaincfg.RegressionNetParams

const (
	startAttempts = 3                // new ports are picked after a bind race
	readyTimeout  = 60 * time.Second // btcd opens its database within seconds
	stopGrace     = 15 * time.Second // btcd flushes its database on SIGTERM
	pollInterval  = 25 * time.Millisecond
	waitTimeout   = 90 * time.Second // cap for waits whose ctx has no deadline
)

// BtcdPath locates the btcd binary: the file named by CRYPTOPAY_BTCD_PATH
// if set, else the path printed by `go tool -n btcd`, run in the current
// directory (which must lie inside the module; the tool is built on first
// use). It returns an error when neither yields an existing file.
func BtcdPath(ctx context.Context) (string, error) {
	if p := os.Getenv(BtcdPathEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("regtest: %s: %w", BtcdPathEnv, err)
		}
		return p, nil
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "btcd")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("regtest: go tool -n btcd: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("regtest: btcd binary: %w", err)
	}
	return p, nil
}

// Options configure Start.
type Options struct {
	// Dir holds everything the node writes: data, logs, HOME and TMPDIR.
	// Required; give each node its own (tests pass t.TempDir()).
	Dir string
	// BtcdPath is the btcd binary; empty means BtcdPath(ctx).
	BtcdPath string
	// MiningAddress receives the coinbase of every block Mine generates
	// (btcd fixes it at start). Empty means a burn address nobody holds.
	MiningAddress string
}

// Node is a running btcd regtest node. Its methods are safe for concurrent
// use.
type Node struct {
	dir      string
	rpcAddr  string
	p2pAddr  string
	user     string
	password string
	client   *http.Client
	rpcID    idCounter

	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has been reaped
	waitErr  error         // valid after exited is closed
	stopOnce sync.Once
	stopErr  error
}

// Start launches btcd in regtest mode listening on free 127.0.0.1 ports for
// P2P and for RPC (HTTP without TLS, random credentials, /ws websocket), with
// --txindex, and waits until it answers RPC. It returns an error if the
// binary cannot be found, the options are invalid, or the node does not
// become ready; in that case no process is left running. The caller must
// Stop the node.
//
// One write escapes Dir: btcd creates its default app-data directory
// (~/.btcd, empty) under the home directory it looks up in the user
// database, which ignores HOME. Nothing is written into it.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if opts.Dir == "" {
		return nil, errors.New("regtest: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("regtest: %w", err)
	}
	bin := opts.BtcdPath
	if bin == "" {
		if bin, err = BtcdPath(ctx); err != nil {
			return nil, err
		}
	}
	mining := opts.MiningAddress
	if mining == "" {
		mining = burnAddress()
	}
	a, err := address.DecodeAddress(mining, Params)
	if err != nil || !a.IsForNet(Params) {
		return nil, fmt.Errorf("regtest: mining address %q is not a regtest address", mining)
	}
	for _, sub := range []string{"data", "logs", "home", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("regtest: %w", err)
		}
	}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		n, err := launch(ctx, bin, dir, mining)
		if err == nil {
			return n, nil
		}
		lastErr = err
		// Retry only when another process grabbed a port between our probe
		// and btcd's bind; anything else will fail the same way again.
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port already in use")

func launch(ctx context.Context, bin, dir, mining string) (*Node, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	n := &Node{
		dir:      dir,
		p2pAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		rpcAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		user:     randomHex(12),
		password: randomHex(24),
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback only; never through a proxy
			MaxIdleConnsPerHost: 4,
		}},
		exited: make(chan struct{}),
	}
	logPath := filepath.Join(dir, "btcd.out")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("regtest: %w", err)
	}
	defer out.Close() // the child holds its own descriptor
	n.cmd = exec.Command(bin,
		"--regtest",
		"--datadir="+filepath.Join(dir, "data"),
		"--logdir="+filepath.Join(dir, "logs"),
		"--listen="+n.p2pAddr,
		"--rpclisten="+n.rpcAddr,
		"--rpcuser="+n.user,
		"--rpcpass="+n.password,
		"--notls",
		"--txindex",
		"--nodnsseed",
		"--nobanning",
		"--rpcmaxclients=64",
		"--miningaddr="+mining,
	)
	n.cmd.Dir = dir
	n.cmd.Env = childEnv(dir)
	n.cmd.Stdout = out
	n.cmd.Stderr = out
	setProcessGroup(n.cmd)
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("regtest: start btcd: %w", err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.exited)
	}()
	if err := n.waitReady(ctx); err != nil {
		_ = n.Stop()
		tail := logTail(logPath)
		if strings.Contains(tail, "address already in use") {
			return nil, fmt.Errorf("regtest: %w: %s", errPortTaken, tail)
		}
		return nil, fmt.Errorf("regtest: btcd did not become ready: %w\n%s", err, tail)
	}
	return n, nil
}

func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		var height int64
		err := n.Call(ctx, "getblockcount", nil, &height)
		if err == nil {
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("btcd exited: %v", n.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last RPC error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Stop ends the node: SIGTERM to its process group so btcd flushes its
// database, then SIGKILL after a grace period. It waits until the process
// is gone. Calling it again returns the first result. The error reports a
// failure to signal, not btcd's exit status.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		defer n.client.CloseIdleConnections()
		select {
		case <-n.exited:
			return
		default:
		}
		if err := signalGroup(n.cmd, false); err != nil {
			n.stopErr = fmt.Errorf("regtest: stop btcd: %w", err)
		}
		select {
		case <-n.exited:
		case <-time.After(stopGrace):
			if err := signalGroup(n.cmd, true); err != nil {
				n.stopErr = errors.Join(n.stopErr, fmt.Errorf("regtest: kill btcd: %w", err))
			}
			<-n.exited
		}
		// Children btcd may have spawned share its group; make sure none
		// outlives it.
		_ = signalGroup(n.cmd, true)
	})
	return n.stopErr
}

// Pid is the operating-system process id of btcd.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Dir is the directory the node writes to (Options.Dir made absolute).
func (n *Node) Dir() string { return n.dir }

// RPCURL is the JSON-RPC endpoint, http://127.0.0.1:port.
func (n *Node) RPCURL() string { return "http://" + n.rpcAddr }

// RPCHost is the RPC endpoint as host:port.
func (n *Node) RPCHost() string { return n.rpcAddr }

// WebsocketURL is btcd's websocket notification endpoint on the RPC port.
func (n *Node) WebsocketURL() string { return "ws://" + n.rpcAddr + "/ws" }

// RPCUser is the random RPC user name of this node.
func (n *Node) RPCUser() string { return n.user }

// RPCPassword is the random RPC password of this node.
func (n *Node) RPCPassword() string { return n.password }

// P2PAddr is the peer-to-peer listen address, 127.0.0.1:port.
func (n *Node) P2PAddr() string { return n.p2pAddr }

// freePorts asks the kernel for distinct free loopback ports. Another
// process may take one before btcd binds it; Start retries in that case.
func freePorts(count int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("regtest: pick port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// childEnv is the parent's environment with HOME and TMPDIR moved into dir,
// so btcd's default app-data directory lands there too.
func childEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "TMPDIR", "TMP", "TEMP", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(dir, "home"),
		"TMPDIR="+filepath.Join(dir, "tmp"),
	)
}

func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// burnAddress is a P2WPKH regtest address of a key derived from a public
// phrase: coins mined to it are provably nobody's secret.
func burnAddress() string {
	seed := sha256.Sum256([]byte("cryptopay regtest burn address"))
	_, pub := btcec.PrivKeyFromBytes(seed[:])
	a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(pub.SerializeCompressed()), Params)
	if err != nil {
		panic(err) // a 20-byte program is always valid
	}
	return a.EncodeAddress()
}

// withWaitTimeout bounds waits whose caller gave no deadline.
func withWaitTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, waitTimeout)
}
