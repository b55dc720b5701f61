// Package fynelocale keeps Fyne from logging "Error parsing user locale C"
// at start on systems whose locale is C.UTF-8 (Debian's default). Fyne's
// lang package asks github.com/jeandeaual/go-locale for the locale in its
// own init; go-locale turns "C.UTF-8" into the language tag "C", which does
// not parse. When the locale that names the messages' language is C or
// POSIX with a suffix and $LANGUAGE is unset, this package sets
// LANGUAGE=en, which go-locale reads next and which gettext ignores under
// a C locale, so nothing else changes: Fyne falls back to English either way.
//
// It must be imported (blank) by package main. Go initialises packages in
// import-path order among those whose imports are ready (Go 1.21 spec), so
// this one, needing only os and strings, runs before fyne.io/fyne/v2/lang,
// which waits for github.com/nicksnyder/go-i18n (sorted after ours).
package fynelocale

import (
	"os"
	"strings"
)

func init() {
	if NeedsLanguage(os.Getenv) {
		_ = os.Setenv("LANGUAGE", "en")
	}
}

// NeedsLanguage reports whether the environment read by getenv names a
// C or POSIX locale that go-locale cannot turn into a language tag, with
// no $LANGUAGE to fall back on.
func NeedsLanguage(getenv func(string) string) bool {
	if getenv("LANGUAGE") != "" {
		return false
	}
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		loc := getenv(v)
		if loc == "" {
			continue
		}
		if loc == "C" || loc == "POSIX" {
			return false // go-locale handles the plain names
		}
		lang, _, _ := strings.Cut(loc, ".")
		lang, _, _ = strings.Cut(lang, "@")
		return lang == "C" || lang == "POSIX"
	}
	return false
}
