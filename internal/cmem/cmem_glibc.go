//go:build linux && cgo

package cmem

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static int mx_info(size_t out[3]) {
	struct mallinfo2 m = mallinfo2();
	out[0] = m.uordblks + m.hblkhd;
	out[1] = m.fordblks;
	out[2] = m.hblkhd;
	return 1;
}
static void mx_trim(void) { malloc_trim(0); }
static int mx_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }
#else
static int mx_info(size_t out[3]) { (void)out; return 0; }
static void mx_trim(void) {}
static int mx_arena_max(int n) { (void)n; return 0; }
#endif
*/
import "C"

// Read returns the C heap's figures; ok is false where they are unknown.
func Read() (s Stats, ok bool) {
	var out [3]C.size_t
	if C.mx_info(&out[0]) == 0 {
		return Stats{}, false
	}
	return Stats{InUse: uint64(out[0]), Free: uint64(out[1]), Mapped: uint64(out[2])}, true
}

// Trim gives the free memory of every arena back to the system
// (malloc_trim(0)). It takes a few milliseconds for a heap of ~100 MB.
func Trim() { C.mx_trim() }

// LimitArenas caps the number of malloc arenas (M_ARENA_MAX). glibc gives
// every thread that allocates its own arena, up to 8 per core, and memory
// freed into one is not reused by the others. Call it before threads start
// allocating; it reports whether the allocator took it.
func LimitArenas(n int) bool { return C.mx_arena_max(C.int(n)) == 1 }
