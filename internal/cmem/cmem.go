// Package cmem looks at and tidies the C heap (glibc malloc) that libvpx,
// libopus, Mesa and the other C libraries share with nothing in Go's
// accounting: how much is in use and how much is free but still held, and
// a way to give the free part back to the system. Elsewhere (not glibc, or
// no cgo) it reports nothing and does nothing.
package cmem

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
