//go:build unix && !linux

package regtest

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; Stop remains the way to end btcd.
func setParentDeathSignal(*syscall.SysProcAttr) {}
