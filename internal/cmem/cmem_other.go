//go:build !linux || !cgo

package cmem

// Read returns nothing here.
func Read() (Stats, bool) { return Stats{}, false }

// Trim does nothing here.
func Trim() {}

// LimitArenas does nothing here.
func LimitArenas(int) bool { return false }
