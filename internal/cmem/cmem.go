// Package cmem looks at and tidies the C heap (glibc malloc) that libvpx,
// libopus, Mesa and the other C libraries share with nothing in Go's
// accounting: how much is in use and how much is free but still held, and
// a way to give the free part back to the system. Elsewhere (not glibc, or
// no cgo) it reports nothing and does nothing.
package cmem

import "runtime/debug"

// GiveBack hands the free memory of both heaps back to the system: the Go
// heap's (debug.FreeOSMemory: a collection, then the free pages returned
// at once instead of over minutes) and the C heap's (Trim: what libvpx,
// Opus and Mesa freed stays in glibc's arenas otherwise). The app calls it
// after a call or a screen share; the benchmarks do the same.
func GiveBack() {
	debug.FreeOSMemory()
	Trim()
}

// Stats is a snapshot of the C heap, in bytes.
type Stats struct {
	// InUse is allocated and not freed (mallinfo2 uordblks + hblkhd).
	InUse uint64
	// Free is freed but still held by the allocator's arenas (fordblks):
	// resident if it was touched, until trimmed.
	Free uint64
	// Mapped is memory held in separate mmap'd blocks (hblkhd).
	Mapped uint64
}
