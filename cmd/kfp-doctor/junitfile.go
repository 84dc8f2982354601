package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kfp-connect/kfp-connect/internal/report"
)

// junitFile is --junit-file: the run's JUnit goes to a file, for CI, while
// the report chosen with -o (text by default) still goes to stdout.
type junitFile struct{ path string }

func addJUnitFileFlag(cmd *cobra.Command) *junitFile {
	j := &junitFile{}
	cmd.Flags().StringVar(&j.path, "junit-file", "", "also write the report as JUnit XML to this file (for CI; the -o report still goes to stdout)")
	_ = cmd.MarkFlagFilename("junit-file", "xml")
	return j
}

// check refuses, before anything runs, a path whose directory is not there:
// finding out after the run would lose the CI's report.
func (j *junitFile) check() error {
	if j.path == "" {
		return nil
	}
	dir := filepath.Dir(j.path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageErr("--junit-file %s: the directory %s does not exist", j.path, dir)
	}
	if fi, err := os.Stat(j.path); err == nil && fi.IsDir() {
		return usageErr("--junit-file %s is a directory", j.path)
	}
	return nil
}

// write puts the reports in the file, whole or not at all: a temporary file
// in the same directory, renamed over the path, so a CI step never reads
// half a report.
func (j *junitFile) write(reps ...*report.Report) error {
	if j.path == "" {
		return nil
	}
	var b bytes.Buffer
	if err := report.WriteJUnit(&b, reps...); err != nil {
		return fmt.Errorf("--junit-file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(j.path), ".kfp-doctor-junit-*.xml")
	if err != nil {
		return fmt.Errorf("--junit-file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("--junit-file %s: %w", j.path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("--junit-file %s: %w", j.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--junit-file %s: %w", j.path, err)
	}
	if err := os.Rename(tmp.Name(), j.path); err != nil {
		return fmt.Errorf("--junit-file %s: %w", j.path, err)
	}
	return nil
}
