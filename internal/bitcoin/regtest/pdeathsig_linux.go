package regtest

import "syscall"

// setParentDeathSignal kills btcd if the process that started it dies
// without calling Stop (a test binary killed by its timeout, say).
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
