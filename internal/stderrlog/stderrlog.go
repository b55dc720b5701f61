// Package stderrlog gives a program that may have no standard error a log
// file instead. On Windows an exe linked as a GUI program (-H=windowsgui, as
// mxcall.exe is, so that no console window opens beside it) and started from
// Explorer has no standard error: whatever it logs, and the Go runtime's
// report of a crash, would be lost. Setup detects that and sends both to a
// file.
//
// It imports nothing of mxcall's; package main calls it (on Windows) before
// it makes its logger.
package stderrlog

import (
	"fmt"
	"os"
	"path/filepath"
)

// Setup makes sure the process's standard error goes somewhere. When
// os.Stderr works and force is false it changes nothing and returns "".
// Otherwise it creates (or truncates) the file at path, making its
// directory, points os.Stderr and, on Windows, the process's standard-error
// handle (where the Go runtime writes panics) at it, and returns path. On
// error nothing is changed.
func Setup(path string, force bool) (string, error) {
	if !force && usable(os.Stderr) {
		return "", nil
	}
	if path == "" {
		return "", ErrNoPath
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("stderrlog: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("stderrlog: %w", err)
	}
	if err := setStdHandle(f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("stderrlog: %w", err)
	}
	os.Stderr = f
	return path, nil
}

// DefaultPath is where a program named name keeps its log when it has no
// standard error: <user cache dir>/<name>/<name>.log, i.e.
// %LocalAppData%\<name>\<name>.log on Windows; "" if the user has no cache
// directory.
func DefaultPath(name string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, name, name+".log")
}
