package stderrlog

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// closedFile returns an *os.File whose handle is gone, as a GUI program's
// standard error is.
func closedFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(tempDir(t), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	return f
}

// tempDir is t.TempDir, except that a directory Wine cannot remove (Go 1.26's
// os.RemoveAll fails there with "Invalid function"; the test runs under
// Wine in scripts/test-windows.sh) is left behind instead of failing the test.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "stderrlog")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s: %v", dir, err)
		}
	})
	return dir
}

// keepStderr restores os.Stderr and the standard-error handle after the test
// (call it after making the test's directories: it must run first, as
// Windows cannot remove a file that is still open).
func keepStderr(t *testing.T) {
	t.Helper()
	orig, origHandle := os.Stderr, stdHandle()
	t.Cleanup(func() {
		if runtime.GOOS == "windows" {
			_ = setStdHandle(os.NewFile(origHandle, "stderr"))
		}
		if os.Stderr != orig {
			_ = os.Stderr.Close()
		}
		os.Stderr = orig
	})
}

func TestSetup(t *testing.T) {
	file := filepath.Join("a", "b", "app.log")
	tests := []struct {
		name       string
		stderr     func(t *testing.T) *os.File // nil: keep the test's own
		path       string                      // relative to a temp dir; "-" for none
		force      bool
		redirected bool
		err        bool
	}{
		{name: "working stderr is kept", path: file},
		{name: "working stderr, forced", path: file, force: true, redirected: true},
		{name: "closed stderr", stderr: closedFile, path: file, redirected: true},
		{name: "no stderr at all", stderr: func(*testing.T) *os.File { return nil }, path: file, redirected: true},
		{name: "closed stderr, no path", stderr: closedFile, path: "-", err: true},
		{name: "closed stderr, directory is a file", stderr: closedFile, path: filepath.Join("plain", "app.log"), err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			keepStderr(t)
			if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.path)
			if tc.path == "-" {
				path = ""
			}
			if tc.stderr != nil {
				os.Stderr = tc.stderr(t)
			}
			before, beforeHandle := os.Stderr, stdHandle()

			got, err := Setup(path, tc.force)
			if (err != nil) != tc.err {
				t.Fatalf("Setup: err %v, want error %v", err, tc.err)
			}
			if tc.path == "-" && !errors.Is(err, ErrNoPath) {
				t.Errorf("Setup without a path: err %v, want ErrNoPath", err)
			}
			if !tc.redirected {
				if got != "" || os.Stderr != before || stdHandle() != beforeHandle {
					t.Fatalf("Setup changed standard error (returned %q)", got)
				}
				if _, err := os.Stat(path); path != "" && err == nil {
					t.Errorf("Setup made %s although it kept standard error", path)
				}
				return
			}
			if got != path {
				t.Fatalf("Setup returned %q, want %q", got, path)
			}
			if runtime.GOOS == "windows" && stdHandle() != os.Stderr.Fd() {
				t.Errorf("STD_ERROR_HANDLE %#x, want the log file's %#x", stdHandle(), os.Stderr.Fd())
			}
			if _, err := os.Stderr.WriteString("hello from stderr\n"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || !strings.Contains(string(b), "hello from stderr") {
				t.Errorf("log file holds %q (%v), want what was written to os.Stderr", b, err)
			}
		})
	}
}

// A second start truncates the log of the previous one.
func TestSetupTruncates(t *testing.T) {
	path := filepath.Join(tempDir(t), "app.log")
	keepStderr(t)
	if err := os.WriteFile(path, []byte("old run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Setup(path, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("log file holds %q, want it emptied", b)
	}
}

func TestDefaultPath(t *testing.T) {
	dir := tempDir(t)
	t.Setenv("XDG_CACHE_HOME", dir) // Linux, BSDs
	t.Setenv("LocalAppData", dir)   // Windows
	want := filepath.Join(dir, "mxcall", "mxcall.log")
	if runtime.GOOS == "darwin" {
		home, _ := os.UserHomeDir()
		want = filepath.Join(home, "Library", "Caches", "mxcall", "mxcall.log")
	}
	if got := DefaultPath("mxcall"); got != want {
		t.Errorf("DefaultPath = %q, want %q", got, want)
	}
}
