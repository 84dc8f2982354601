package localfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadFirstLine returns the first line of r without its line ending, reading
// at most max bytes, and gives up when ctx ends: a pipe that never delivers
// (--password-stdin fed by a process that never writes) ends at the run's
// deadline instead of hanging. The read itself cannot be interrupted, so on
// the deadline its goroutine is left to finish when r does; the doctor exits
// soon after, which closes stdin.
func ReadFirstLine(ctx context.Context, r io.Reader, max int, what string) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(io.LimitReader(r, int64(max)+1)).ReadString('\n')
		ch <- result{line, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		why := "the run was interrupted"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "the deadline (--timeout) passed"
		}
		return "", fmt.Errorf("%s: nothing arrived before %s: pipe the line in (printf '%%s\\n' \"$VALUE\" | …) or raise --timeout: %w", what, why, ctx.Err())
	}
	if res.err != nil && !errors.Is(res.err, io.EOF) {
		return "", fmt.Errorf("%s: reading: %w", what, res.err)
	}
	if len(res.line) > max {
		return "", fmt.Errorf("%s: the first line is longer than %d bytes: %w", what, max, ErrTooLarge)
	}
	line := strings.TrimRight(res.line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%s: %w", what, ErrEmpty)
	}
	return line, nil
}
