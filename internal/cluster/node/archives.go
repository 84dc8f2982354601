package node

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// archiveTags lists the tags a docker archive carries (its manifest.json's
// RepoTags, as `docker save`, go-containerregistry and internal/images
// write them), reading the tar's headers and that one file only.
func archiveTags(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is no docker archive: it has no manifest.json", path)
		}
		if err != nil {
			return nil, fmt.Errorf("%s is no docker archive: %w", path, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&manifest); err != nil {
			return nil, fmt.Errorf("%s: manifest.json: %w", path, err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		return tags, nil
	}
}

// checkArchives says, before anything is started, which archive is not
// there or not a docker archive, and which of need no archive carries.
func checkArchives(archives, need []string) error {
	var have []string
	for _, a := range archives {
		tags, err := archiveTags(a)
		if err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
		have = append(have, tags...)
	}
	var missing []string
	for _, ref := range need {
		if !slices.Contains(have, ref) {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no image archive carries %s, which the node cluster needs (internal/nodeimages builds them)", strings.Join(missing, ", "))
	}
	return nil
}
