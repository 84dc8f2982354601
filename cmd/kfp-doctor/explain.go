package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kfp-connect/kfp-connect/internal/doctor"
	"github.com/kfp-connect/kfp-connect/internal/explain"
)

// newExplainCommand is `kfp-doctor explain`: a pasted error in, the
// catalogue's answer out, with no network at all. Exit 0 when the text
// names a failure, 1 when it names none, 2 on bad usage or unreadable input.
func newExplainCommand(stdout io.Writer, code *int) *cobra.Command {
	var (
		file    string
		output  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Explain a pasted error, traceback or notebook output (offline)",
		Long: `explain reads an error as the user saw it — KFP's reply, a Python traceback, a
notebook cell's whole output (colour codes and .ipynb JSON escapes are fine) or a
kfp-doctor report — from stdin or --file, and names the failure catalogue's ids in
it with the cause, the fix and the kfp-doctor command that confirms it. It makes
no network call. Text that names no known failure gets "no match" and the nearest
ids by shared distinctive words, marked as such.

Exit codes: 0 the text names a failure, 1 it names none, 2 bad usage or input.`,
		Example: `  python3 my_script.py 2>&1 | kfp-doctor explain
  kfp-doctor explain --file cell-output.txt -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &doctor.UsageError{Err: fmt.Errorf("-o %q: want text or json", output)}
			}
			if timeout <= 0 {
				return &doctor.UsageError{Err: fmt.Errorf("--timeout %s: want a positive duration", timeout)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			text, err := readExplainInput(ctx, cmd.InOrStdin(), file)
			if err != nil {
				return &doctor.UsageError{Err: err}
			}
			ex, err := explain.New()
			if err != nil {
				return err
			}
			a := ex.Explain(text)
			if output == "json" {
				err = a.JSON(stdout)
			} else {
				err = a.Text(stdout)
			}
			if err != nil {
				return fmt.Errorf("writing the answer: %w", err)
			}
			if !a.Matched() {
				*code = exitFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "read the text from this file instead of stdin (at most 1 MiB)")
	f.StringVarP(&output, "output", "o", "text", "output format: text|json")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "deadline for reading the input")
	return cmd
}

func readExplainInput(ctx context.Context, stdin io.Reader, file string) (string, error) {
	if file == "" || file == "-" {
		return explain.Read(ctx, stdin, explain.MaxInput)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("--file: %w", err)
	}
	defer f.Close()
	text, err := explain.Read(ctx, f, explain.MaxInput)
	if err != nil {
		return "", fmt.Errorf("--file %s: %w", file, err)
	}
	return text, nil
}
