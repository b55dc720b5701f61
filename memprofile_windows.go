package main

import "os"

// profileSignal is nil: Windows has no SIGUSR1, so envProfile does nothing
// there.
var profileSignal os.Signal
