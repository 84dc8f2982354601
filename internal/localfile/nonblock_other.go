//go:build !unix

package localfile

// nonBlock is zero where O_NONBLOCK does not exist; the stat before the open
// still refuses FIFOs and devices.
const nonBlock = 0
