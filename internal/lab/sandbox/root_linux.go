package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// hostMount is one mount of this machine's, from /proc/self/mountinfo.
type hostMount struct {
	id, parent string
	point      string
}

func mountInfo() ([]hostMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []hostMount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out = append(out, hostMount{id: fields[0], parent: fields[1], point: unescapeMountPoint(fields[4])})
	}
	return out, sc.Err()
}

// unescapeMountPoint undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPoint(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// within reports whether p is dir or under it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// shared are this machine's mounts the pod sees writable as they are;
// fresh are directories the pod gets empty (a container's come from its
// image); every other mount of this machine is seen read-only.
var (
	shared = []string{"/proc", "/sys", "/dev"}
	fresh  = []string{"/tmp", "/run"}
)

// detached is a mount taken from this machine before the pivot, to be
// placed in the root after it.
type detached struct {
	fd     int
	target string
	file   bool // a file, not a directory
}

// makeRoot builds the pod's root and makes it this process's: the
// machine's root filesystem under an overlay whose writes go to a tmpfs of
// the sandbox, the machine's other mounts bound in (read-only but for
// shared), fresh tmpfs at /tmp and /run, then the files and volumes on top.
func makeRoot(spec *Spec) error {
	if strings.ContainsAny(spec.Dir, ",:") || !filepath.IsAbs(spec.Dir) {
		return fmt.Errorf("sandbox directory %q: want an absolute path without commas or colons (overlayfs options)", spec.Dir)
	}
	// Nothing done here may reach the machine's mount table.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return os.NewSyscallError("making mounts private", err)
	}
	scratch, root := filepath.Join(spec.Dir, "scratch"), filepath.Join(spec.Dir, "root")
	for _, d := range []string{scratch, root} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := unix.Mount("tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return os.NewSyscallError("mount tmpfs "+scratch, err)
	}
	upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
	for _, d := range []string{upper, work, filepath.Join(scratch, "files")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=/,upperdir=%s,workdir=%s", upper, work)
	if os.Getuid() != 0 || inUserNS() {
		// In a user namespace overlayfs keeps its attributes in user.*.
		opts += ",userxattr"
	}
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		if inUserNS() {
			// Linux will not clone a root with locked mounts, which
			// this machine's root is in a user namespace.
			return fmt.Errorf("%w: overlayfs of this machine's root cannot be mounted without root (%v); run as root", ErrUnsupported, err)
		}
		return fmt.Errorf("mount overlay of / at %s: %w (the kernel needs overlayfs)", root, err)
	}
	if err := bindHostMounts(spec.Dir, root); err != nil {
		return err
	}
	for _, d := range fresh {
		if err := unix.Mount("tmpfs", filepath.Join(root, d), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return os.NewSyscallError("mount tmpfs "+d, err)
		}
	}
	// Take every source before the pivot hides this machine's paths.
	placed, err := detach(spec, filepath.Join(scratch, "files"))
	if err != nil {
		return err
	}
	defer func() {
		for _, d := range placed {
			unix.Close(d.fd)
		}
	}()
	old := filepath.Join(root, ".kfp-lab-old-root")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return os.NewSyscallError("pivot_root", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.kfp-lab-old-root", unix.MNT_DETACH); err != nil {
		return os.NewSyscallError("umount old root", err)
	}
	if err := os.Remove("/.kfp-lab-old-root"); err != nil {
		return err
	}
	if err := placeFiles(spec.Files); err != nil {
		return err
	}
	for _, d := range placed {
		if err := place(d); err != nil {
			return err
		}
	}
	wd := spec.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return fmt.Errorf("working directory %s: %w", wd, err)
	}
	return nil
}

// bindHostMounts binds each of this machine's mounts on its root into the
// pod's root (the overlay holds only the root filesystem itself), all but
// shared read-only, leaving out the sandbox's own.
func bindHostMounts(dir, root string) error {
	mounts, err := mountInfo()
	if err != nil {
		return err
	}
	rootID := ""
	for _, m := range mounts {
		if m.point == "/" {
			rootID = m.id
		}
	}
	var points []string
	for _, m := range mounts {
		if m.parent != rootID || m.point == "/" || within(m.point, dir) || within(dir, m.point) {
			continue
		}
		points = append(points, m.point)
	}
	sort.Strings(points)
	for _, p := range points {
		if isFresh(p) {
			continue
		}
		target := filepath.Join(root, p)
		if fi, err := os.Lstat(target); err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue // nowhere to bind it in the root filesystem
		}
		if err := unix.Mount(p, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return os.NewSyscallError("bind "+p, err)
		}
		if isShared(p) {
			continue
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, &attr); err != nil {
			return os.NewSyscallError("read-only "+p, err)
		}
	}
	return nil
}

func isShared(p string) bool {
	for _, s := range shared {
		if within(p, s) {
			return true
		}
	}
	return false
}

func isFresh(p string) bool {
	for _, s := range fresh {
		if within(p, s) {
			return true
		}
	}
	return false
}

// detach opens every file and volume to mount as a detached mount, and
// writes the Data files to dir first (files are mounted over the root's,
// never written into it: a path of the root may be this machine's).
func detach(spec *Spec, dir string) ([]detached, error) {
	var out []detached
	take := func(src, target string, readOnly bool) error {
		if !filepath.IsAbs(target) || filepath.Clean(target) != target || target == "/" {
			return fmt.Errorf("mount target %q: want a clean absolute path", target)
		}
		for _, s := range shared {
			if within(target, s) {
				return fmt.Errorf("cannot mount at %s: %s is this machine's", target, s)
			}
		}
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("open_tree "+src, err)
		}
		if readOnly {
			attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
				unix.Close(fd)
				return os.NewSyscallError("read-only "+src, err)
			}
		}
		out = append(out, detached{fd: fd, target: target, file: !fi.IsDir()})
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for i, f := range spec.Files {
		var err error
		switch {
		case f.Self != "":
			err = take(self, f.Path, true)
		case f.Data != nil:
			p := filepath.Join(dir, fmt.Sprint(i))
			mode := f.Mode
			if mode == 0 {
				mode = 0o644
			}
			if err = os.WriteFile(p, f.Data, mode); err == nil {
				err = take(p, f.Path, false)
			}
		case f.Source != "" && f.Source != f.Path:
			err = take(f.Source, f.Path, true)
		}
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("image file %s: %w", f.Path, err)
		}
	}
	// Volumes after the image's files, shallower first, as the kubelet
	// orders them.
	mounts := append([]Mount(nil), spec.Mounts...)
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].Target) < len(mounts[j].Target) })
	for _, m := range mounts {
		if err := take(m.Source, filepath.Clean(m.Target), m.ReadOnly); err != nil {
			closeAll(out)
			return nil, fmt.Errorf("volume at %s: %w", m.Target, err)
		}
	}
	return out, nil
}

func closeAll(ds []detached) {
	for _, d := range ds {
		unix.Close(d.fd)
	}
}

// place mounts a detached mount at its target in the new root, making the
// target (and its parents, inside the root) when missing.
func place(d detached) error {
	if err := os.MkdirAll(filepath.Dir(d.target), 0o755); err != nil {
		return fmt.Errorf("mount point for %s: %w", d.target, err)
	}
	fi, err := os.Stat(d.target)
	switch {
	case errors.Is(err, os.ErrNotExist) && d.file:
		f, cerr := os.OpenFile(d.target, os.O_CREATE|os.O_WRONLY, 0o644)
		if cerr != nil {
			return fmt.Errorf("mount point for %s: %w", d.target, cerr)
		}
		f.Close()
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(d.target, 0o755); err != nil {
			return fmt.Errorf("mount point for %s: %w", d.target, err)
		}
	case err != nil:
		return err
	case fi.IsDir() == d.file:
		return fmt.Errorf("cannot mount a %s at %s, which is a %s", kind(d.file), d.target, kind(!d.file))
	}
	if err := unix.MoveMount(d.fd, "", unix.AT_FDCWD, d.target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return os.NewSyscallError("move_mount "+d.target, err)
	}
	return nil
}

func kind(file bool) string {
	if file {
		return "file"
	}
	return "directory"
}

// placeFiles makes the image's directories and links (its files come as
// mounts).
func placeFiles(files []File) error {
	sorted := append([]File(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, f := range sorted {
		switch {
		case f.Dir:
			mode := f.Mode
			if mode == 0 {
				mode = 0o755
			}
			if err := os.MkdirAll(f.Path, mode); err != nil {
				return fmt.Errorf("image directory %s: %w", f.Path, err)
			}
			if err := os.Chmod(f.Path, mode|modeBits(mode)); err != nil {
				return err
			}
			// In a user namespace the image's users may not exist: the
			// process runs as the caller's user there anyway.
			_ = os.Lchown(f.Path, f.UID, f.GID)
		case f.Link != "":
			if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
				return err
			}
			if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("image link %s: %w", f.Path, err)
			}
			if err := os.Symlink(f.Link, f.Path); err != nil {
				return fmt.Errorf("image link %s: %w", f.Path, err)
			}
		}
	}
	return nil
}

// modeBits keeps the sticky bit of an image directory's mode (0o1777 /tmp).
func modeBits(m os.FileMode) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// inUserNS reports whether this process is in a user namespace other than
// the machine's (its uid map is not the identity of every uid).
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
