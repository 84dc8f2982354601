// Package lazyre compiles a regular expression on its first use rather than
// at package init. A package-level regexp.MustCompile runs on every start of
// every binary that links the package, whether the expression is used or
// not: kfp-doctor links a few dozen, and `kfp-doctor version` uses none.
package lazyre

import (
	"regexp"
	"sync"
)

var (
	mu  sync.Mutex
	all []func() *regexp.Regexp
)

// New returns a function that compiles expr on its first call and returns
// the same *regexp.Regexp on every call; it panics, as regexp.MustCompile
// does, when expr is not a valid expression.
func New(expr string) func() *regexp.Regexp {
	f := sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
	mu.Lock()
	all = append(all, f)
	mu.Unlock()
	return f
}

// CompileAll compiles every expression made with New so far, so a test of a
// binary's packages finds a bad one without running the code that uses it.
func CompileAll() {
	mu.Lock()
	fs := append([]func() *regexp.Regexp(nil), all...)
	mu.Unlock()
	for _, f := range fs {
		f()
	}
}
