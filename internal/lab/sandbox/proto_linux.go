package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// message is one packet between the caller and its helper, over a
// SOCK_SEQPACKET pair; sockets travel beside it as SCM_RIGHTS.
type message struct {
	// Caller to helper.
	Spec    *Spec  `json:"spec,omitempty"`
	Op      string `json:"op,omitempty"` // start, dial, listen
	Port    int    `json:"port,omitempty"`
	Network string `json:"network,omitempty"`
	Addr    string `json:"addr,omitempty"`

	// Helper to caller.
	Ready   bool   `json:"ready,omitempty"`
	Pid     int    `json:"pid,omitempty"`
	OK      bool   `json:"ok,omitempty"`
	Error   string `json:"error,omitempty"`
	Refused bool   `json:"refused,omitempty"`
	// Exited is sent once, unasked, when the program ends: how it ended.
	Exited string `json:"exited,omitempty"`
}

// maxMessage bounds a packet (a Spec is a few kilobytes).
const maxMessage = 1 << 20

func send(c *net.UnixConn, m message, files ...*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("sandbox message of %d bytes is too large", len(b))
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// receive reads one message and the files sent with it.
func receive(c *net.UnixConn) (message, []*os.File, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(64*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, nil, err
	}
	if n == 0 {
		return message{}, nil, net.ErrClosed
	}
	var files []*os.File
	if oobn > 0 {
		scms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return message{}, nil, err
		}
		for _, scm := range scms {
			fds, err := unix.ParseUnixRights(&scm)
			if err != nil {
				return message{}, nil, err
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				files = append(files, os.NewFile(uintptr(fd), "sandbox socket"))
			}
		}
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		for _, f := range files {
			f.Close()
		}
		return message{}, nil, fmt.Errorf("sandbox message: %w", err)
	}
	return m, files, nil
}

// socketPair is a connected SOCK_SEQPACKET pair: the caller's end as a
// connection, the helper's as a file to hand it.
func socketPair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "sandbox control")
	defer ours.Close()
	c, err := net.FileConn(ours)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "sandbox control (helper)"), nil
}
