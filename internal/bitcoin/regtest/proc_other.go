//go:build !unix

package regtest

import "os/exec"

// setProcessGroup does nothing where there are no process groups.
func setProcessGroup(*exec.Cmd) {}

// signalGroup kills btcd itself; without process groups there is no
// graceful signal to send.
func signalGroup(cmd *exec.Cmd, _ bool) error { return cmd.Process.Kill() }
