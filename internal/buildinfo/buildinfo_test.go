package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	cases := map[string]struct {
		stamped string
		bi      *debug.BuildInfo
		want    Info
	}{
		"a release stamps its tag, and the commit still shows": {
			stamped: "v0.2.0",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			want:    Info{Version: "v0.2.0", Commit: rev, GoVersion: "go1.26.0"},
		},
		"go install …@v0.2.0: the module version, no VCS": {
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.2.0"}},
			want: Info{Version: "v0.2.0", GoVersion: "go1.26.0"},
		},
		"go install …@latest of an untagged commit: the pseudo-version": {
			stamped: "dev",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20260301120000-0123456789ab"}},
			want:    Info{Version: "v0.0.0-20260301120000-0123456789ab", GoVersion: "go1.26.0"},
		},
		"go build in a dirty clone: devel with the commit and modified": {
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")},
			want: Info{Version: "devel", Commit: rev, Modified: true, GoVersion: "go1.26.0"},
		},
		"no build info at all": {
			stamped: "dev",
			want:    Info{Version: "devel", GoVersion: runtime.Version()},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := fromBuildInfo(c.stamped, c.bi)
			c.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	cases := map[string]struct {
		info Info
		want string
	}{
		"release": {Info{Version: "v0.2.0", Commit: "0123456789abcdef", GoVersion: "go1.26.0", Platform: "linux/amd64"},
			"v0.2.0 (commit 0123456789ab; go1.26.0 linux/amd64)"},
		"dirty clone": {Info{Version: "devel", Commit: "0123456789abcdef", Modified: true, GoVersion: "go1.26.0", Platform: "darwin/arm64"},
			"devel (commit 0123456789ab, modified; go1.26.0 darwin/arm64)"},
		"module only": {Info{Version: "v0.2.0", GoVersion: "go1.26.0", Platform: "linux/arm64"},
			"v0.2.0 (go1.26.0 linux/arm64)"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := c.info.String(); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// The test binary has real build info: Read must not fall back to "dev".
func TestReadNeverSaysDev(t *testing.T) {
	if got := Read("dev"); got.Version == "" || strings.EqualFold(got.Version, "dev") {
		t.Fatalf("Read = %+v", got)
	}
}
