package stderrlog

import "errors"

// ErrNoPath is returned by Setup when standard error must be replaced but no
// path was given.
var ErrNoPath = errors.New("stderrlog: no path for the log file")
