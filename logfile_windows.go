package main

import (
	"os"

	"github.com/mxcall/mxcall/internal/stderrlog"
)

// envLogFile names a file for the log on Windows ("" = only when there is no
// standard error, at %LocalAppData%\mxcall\mxcall.log).
const envLogFile = "MXCALL_LOG_FILE"

// mxcall.exe is a GUI program (no console window), so when it is started
// from Explorer it has no standard error: give its log, and any crash
// report, a file instead. The file is emptied at each start.
func init() {
	path, force := os.Getenv(envLogFile), true
	if path == "" {
		path, force = stderrlog.DefaultPath("mxcall"), false
	}
	_, _ = stderrlog.Setup(path, force)
}
