// Package buildinfo says which build of a command is running: the version a
// release stamped in with -ldflags "-X main.version=…", else what the Go
// toolchain recorded (the module version of `go install …@v1.2.3`, or the
// VCS commit of a build from a clone), so no build reports a bare "dev".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is one build's identity.
type Info struct {
	Version   string // a release tag, a module (pseudo-)version, or "devel"
	Commit    string // vcs.revision, when the toolchain recorded it
	Modified  bool   // vcs.modified: built from a tree with uncommitted changes
	GoVersion string
	Platform  string // GOOS/GOARCH
}

// Read returns the build's identity; stamped is the -X version, "" or
// "dev" when none was set.
func Read(stamped string) Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(stamped, bi)
}

// fromBuildInfo is Read without the process: tests give it the build info.
func fromBuildInfo(stamped string, bi *debug.BuildInfo) Info {
	info := Info{Version: stamped, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if info.Version == "" || info.Version == "dev" {
			info.Version = "devel"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "" || info.Version == "dev" {
		// "(devel)" is what the toolchain records for a build without
		// a module version (go build in a tree without VCS stamping).
		info.Version = bi.Main.Version
		if info.Version == "" || info.Version == "(devel)" {
			info.Version = "devel"
		}
	}
	return info
}

// String is what `version` prints after the command's name:
// "v0.1.0 (commit 1a2b3c4d5e6f, modified; go1.26.0 linux/amd64)".
func (i Info) String() string {
	commit := ""
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		commit = "commit " + c
		if i.Modified {
			commit += ", modified"
		}
		commit += "; "
	}
	return fmt.Sprintf("%s (%s%s %s)", i.Version, commit, i.GoVersion, i.Platform)
}
