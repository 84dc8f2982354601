// Command kfp-standin is the one binary behind every stand-in image the
// node provider runs as a real container (KFP's API server and UI, the
// Istio gateway, the PodDefault admission webhook): the program is chosen by
// the first argument, or by the name it is called as, so an image's
// entrypoint can be a link such as /kfp-api-server. Each program is
// configured only from its environment and its pod's files, as the lab's
// in-process stand-ins are on kwok.
//
// Exit codes: 0 stopped by a signal, 1 it failed, 2 bad usage.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// program is one stand-in: it serves until ctx ends.
type program func(ctx context.Context, args []string, stderr io.Writer) error

// programs is filled by each program's file with register, in init.
var programs = map[string]program{}

func register(name string, p program) {
	if _, dup := programs[name]; dup {
		panic("kfp-standin: program registered twice: " + name)
	}
	programs[name] = p
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with argv.
func run(ctx context.Context, argv []string, stderr io.Writer) int {
	name, args := choose(argv)
	p, ok := programs[name]
	if !ok {
		fmt.Fprintf(stderr, "kfp-standin: unknown program %q; want one of %s, as the first argument or the name the binary is called as\n", name, strings.Join(names(), ", "))
		return 2
	}
	if err := p(ctx, args, stderr); err != nil {
		fmt.Fprintf(stderr, "kfp-standin %s: %v\n", name, err)
		return 1
	}
	return 0
}

// choose picks the program: the name the binary was called as when that is
// a program (an image's entrypoint link), else the first argument.
func choose(argv []string) (string, []string) {
	if len(argv) == 0 {
		return "", nil
	}
	if base := filepath.Base(argv[0]); programs[base] != nil {
		return base, argv[1:]
	}
	if len(argv) < 2 {
		return "", nil
	}
	return argv[1], argv[2:]
}

func names() []string {
	var out []string
	for n := range programs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
