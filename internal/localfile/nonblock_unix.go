//go:build unix

package localfile

import "syscall"

// nonBlock makes the open of a FIFO return at once instead of waiting for a
// writer; on a regular file it changes nothing.
const nonBlock = syscall.O_NONBLOCK
