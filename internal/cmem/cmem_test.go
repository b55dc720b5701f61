package cmem

import (
	"runtime"
	"testing"
)

func TestReadTrimLimit(t *testing.T) {
	s, ok := Read()
	if runtime.GOOS == "linux" && !ok {
		t.Skip("not glibc") // musl and others report nothing
	}
	if ok && s.InUse == 0 {
		t.Errorf("C heap in use 0 in a cgo process: %+v", s)
	}
	Trim() // must not crash
	if ok && !LimitArenas(2) {
		t.Error("glibc refused M_ARENA_MAX")
	}
}
