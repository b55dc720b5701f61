package main

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// mainStarted is when main began (package initialisation done).
var mainStarted time.Time

// sinceExec returns how long ago the process was started (exec), from
// /proc on Linux, to 10 ms; elsewhere, or when /proc cannot be read, the
// time since main began.
func sinceExec() time.Duration {
	stat, err1 := os.ReadFile("/proc/self/stat")
	up, err2 := os.ReadFile("/proc/uptime")
	if err1 != nil || err2 != nil {
		return time.Since(mainStarted)
	}
	// Field 22 (starttime, clock ticks since boot) comes after the command
	// name, which is in parentheses and may hold spaces.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	upFields := strings.Fields(string(up))
	if len(fields) < 20 || len(upFields) < 1 {
		return time.Since(mainStarted)
	}
	start, err1 := strconv.ParseFloat(fields[19], 64)
	now, err2 := strconv.ParseFloat(upFields[0], 64)
	if err1 != nil || err2 != nil {
		return time.Since(mainStarted)
	}
	const ticks = 100 // USER_HZ, fixed at 100 for /proc on Linux
	return time.Duration((now - start/ticks) * float64(time.Second)).Round(10 * time.Millisecond)
}

// logRoomsShown logs the start-up time once the room list shows rooms.
func logRoomsShown(log *slog.Logger) func(int) {
	return func(rooms int) {
		log.Info("room list shown", "rooms", rooms, "since_exec", sinceExec(),
			"since_main", time.Since(mainStarted).Round(time.Millisecond))
	}
}
