package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/mxcall/mxcall/internal/cmem"
)

// envProfile names a directory: with it set, SIGUSR1 makes the app write a
// heap profile there (heap-N.pprof) and log where its memory is ("memory":
// Go's live heap and what the Go runtime holds, and the C heap in use and
// free but held). For measurements (scripts/test-app.sh MXCALL_MEASURE).
const envProfile = "MXCALL_PROFILE"

// profileOnSignal serves envProfile until the process exits.
func profileOnSignal(log *slog.Logger) {
	dir := os.Getenv(envProfile)
	if dir == "" || profileSignal == nil {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, profileSignal)
	go func() {
		for n := 1; ; n++ {
			<-ch
			logMemory(log, filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", n)))
		}
	}()
}

func logMemory(log *slog.Logger, path string) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	const mb = 1 << 20
	attrs := []any{
		"go_heap_live_mb", m.HeapAlloc / mb,
		"go_heap_held_mb", (m.HeapSys - m.HeapReleased) / mb,
		"go_stacks_mb", m.StackSys / mb,
		"go_other_mb", (m.Sys - m.HeapSys - m.StackSys) / mb,
		"goroutines", runtime.NumGoroutine(),
	}
	if c, ok := cmem.Read(); ok {
		attrs = append(attrs, "c_in_use_mb", c.InUse/mb, "c_free_held_mb", c.Free/mb)
	}
	if f, err := os.Create(path); err == nil {
		if err := pprof.WriteHeapProfile(f); err == nil {
			attrs = append(attrs, "profile", path)
		}
		_ = f.Close()
	}
	log.Info("memory", attrs...)
}

// giveBack hands the memory a finished call or screen share used back to
// the system (cmem.GiveBack), a moment after its screen was taken down or
// its pipeline closed: when the engine has closed its connections and the
// last frames have left the screen.
func giveBack() { time.AfterFunc(3*time.Second, cmem.GiveBack) }
