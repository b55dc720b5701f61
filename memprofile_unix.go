//go:build !windows

package main

import (
	"os"
	"syscall"
)

// profileSignal asks for a heap profile (envProfile).
var profileSignal os.Signal = syscall.SIGUSR1
