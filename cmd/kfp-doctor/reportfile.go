package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kfp-connect/kfp-connect/internal/report"
)

// reportFile is a flag that writes the run's report to a file in one more
// format while the report chosen with -o still goes to stdout:
// --junit-file for CI, --json-file for a program that shows the text and
// reads the data of one run (the Python package).
type reportFile struct {
	flag   string
	path   string
	render func(io.Writer, ...*report.Report) error
}

func addJUnitFileFlag(cmd *cobra.Command) *reportFile {
	j := &reportFile{flag: "--junit-file", render: report.WriteJUnit}
	cmd.Flags().StringVar(&j.path, "junit-file", "", "also write the report as JUnit XML to this file (for CI; the -o report still goes to stdout)")
	_ = cmd.MarkFlagFilename("junit-file", "xml")
	return j
}

func addJSONFileFlag(cmd *cobra.Command) *reportFile {
	j := &reportFile{flag: "--json-file", render: func(w io.Writer, reps ...*report.Report) error {
		if len(reps) != 1 {
			return fmt.Errorf("one report, got %d", len(reps))
		}
		return reps[0].JSON(w)
	}}
	cmd.Flags().StringVar(&j.path, "json-file", "", "also write the report as JSON (the -o json contract) to this file; the -o report still goes to stdout")
	_ = cmd.MarkFlagFilename("json-file", "json")
	return j
}

// check refuses, before anything runs, a path whose directory is not there:
// finding out after the run would lose the report.
func (j *reportFile) check() error {
	if j.path == "" {
		return nil
	}
	dir := filepath.Dir(j.path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageErr("%s %s: the directory %s does not exist", j.flag, j.path, dir)
	}
	if fi, err := os.Stat(j.path); err == nil && fi.IsDir() {
		return usageErr("%s %s is a directory", j.flag, j.path)
	}
	return nil
}

// write puts the reports in the file, whole or not at all: a temporary file
// in the same directory, renamed over the path, so a CI step never reads
// half a report.
func (j *reportFile) write(reps ...*report.Report) error {
	if j.path == "" {
		return nil
	}
	var b bytes.Buffer
	if err := j.render(&b, reps...); err != nil {
		return fmt.Errorf("%s: %w", j.flag, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(j.path), ".kfp-doctor-report-*")
	if err != nil {
		return fmt.Errorf("%s: %w", j.flag, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("%s %s: %w", j.flag, j.path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("%s %s: %w", j.flag, j.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s %s: %w", j.flag, j.path, err)
	}
	if err := os.Rename(tmp.Name(), j.path); err != nil {
		return fmt.Errorf("%s %s: %w", j.flag, j.path, err)
	}
	return nil
}
