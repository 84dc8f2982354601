// Package sandbox runs a kwok pod's program as a process with the pod's own
// view of the machine, as a container runtime would give it, without
// images, a kubelet or root's host-wide changes:
//
//   - a private mount namespace whose root is this machine's filesystem
//     under an overlay (writes stay the pod's), with the image's files and
//     the pod's volumes mounted at their paths (the ServiceAccount token at
//     /var/run/secrets/kubernetes.io/serviceaccount/, a ConfigMap at
//     /etc/dex/cfg), fresh /tmp and /run, and /etc/resolv.conf and
//     /etc/hosts of the pod's;
//   - a network namespace of its own, so the program binds its container
//     ports as written (KFP's 8888 and 8887) and dials localhost as itself,
//     while another pod's process binds the same ports during a rolling
//     update; it has the pod's IP on eth0, and every other address is
//     routed to the sandbox's side of a veth pair, where the caller's
//     listeners answer (the Services' cluster IPs, DNS);
//   - the pod's name as hostname.
//
// A sandbox is a helper process (this same executable, started again with
// a marker in its environment: every binary that runs sandboxes calls
// RunIfChild first) that holds the namespaces, sets them up, starts the
// program in them, hands the caller the sockets it asks for, and dials the
// program's ports for it: the one way into the pod, where an inbound layer
// in front of the program belongs. Everything lives in namespaces that die
// with the program: nothing is mounted, routed or left on the host, also
// when the caller is killed (the helper and the program die with it).
//
// As root, namespaces are made directly; otherwise in a user namespace of
// the caller's, where the kernel allows it (else Start says how to allow
// it).
package sandbox

import (
	"errors"
	"io/fs"
)

// Spec is what a pod's process is.
type Spec struct {
	// Hostname is the pod's name.
	Hostname string
	// Dir is an empty directory of the caller's for the sandbox's root and
	// scratch; the caller removes it after Wait.
	Dir string
	// Files are the image's files and the pod's managed files
	// (/etc/resolv.conf, /etc/hosts), placed over this machine's.
	Files []File
	// Mounts are the pod's volumes.
	Mounts []Mount
	// Argv is the command line; Argv[0] is looked up on Env's PATH inside
	// the root when it has no slash.
	Argv []string
	// Env is the process's whole environment.
	Env []string
	// WorkingDir is its working directory inside the root ("" is /).
	WorkingDir string
	// PodIP is the pod's address, on its eth0.
	PodIP string
	// Listen are sockets to open on the sandbox's side of the pod's
	// network, which every address the pod dials except its own reaches,
	// for the caller to serve: {"tcp", "0.0.0.0:8888"} takes every
	// connection to port 8888 of any cluster IP; {"udp", "10.96.0.10:53"}
	// is a DNS server's.
	Listen []Listen
}

// File is a file of the root.
type File struct {
	Path string // absolute, inside the root
	// Source is a file of this machine mounted at Path (read-only).
	Source string
	// Self names a program of this executable's (see RegisterSelf) that
	// Path runs: the executable itself is mounted there, and runs that
	// program when executed from there.
	Self string
	// Data is written to Path (a fresh file, mounted over what was there).
	Data []byte
	Dir  bool
	Link string // a symbolic link to Link
	Mode fs.FileMode
	UID  int
	GID  int
}

// Mount is a volume: a directory or file of this machine at Target.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Listen is a socket to open on the sandbox's side of the pod's network.
type Listen struct {
	Network string // tcp or udp
	Addr    string
}

// ErrUnsupported is wrapped by Start where the kernel does not let this
// process make the namespaces a sandbox needs.
var ErrUnsupported = errors.New("a pod's process needs private mount and network namespaces, which this machine refuses")

// The environment markers of the sandbox helper and of a Self program.
const (
	helperEnv = "_KFP_LAB_SANDBOX"
	selfEnv   = "_KFP_LAB_SELF"
)

// selfPrograms are this executable's programs a File can run, by name.
var selfPrograms = map[string]func(argv []string) int{}

// RegisterSelf makes main a program of this executable that a File's Self
// names: when the file is executed, main runs with the process's argv and
// its result is the exit code. Call it before RunIfChild (in init).
func RegisterSelf(name string, main func(argv []string) int) {
	selfPrograms[name] = main
}
