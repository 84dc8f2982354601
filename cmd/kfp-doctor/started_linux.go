package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kfp-connect/kfp-connect/internal/procstat"
)

// processStarted is when the kernel started this process, so that --timeout
// bounds what the user waits, start-up included. /proc's start time counts
// clock ticks since boot (USER_HZ, 100 on Linux), truncated: the estimate is
// at most a tick early, which only shortens the run's budget. The time of
// the call when it cannot be read.
func processStarted() time.Time {
	now := time.Now()
	ticks, err := procstat.StartTime(os.Getpid())
	var boot unix.Timespec
	if err != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) != nil {
		return now
	}
	since := time.Duration(boot.Nano()) - time.Duration(ticks)*(time.Second/userHZ)
	if since < 0 {
		return now // a clock that disagrees with /proc: trust neither
	}
	return now.Add(-since)
}

// userHZ is the unit of /proc/<pid>/stat's times, fixed for user space.
const userHZ = 100
