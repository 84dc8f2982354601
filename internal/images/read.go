package images

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Contents are an image of an archive as read back: its config, and its
// one layer's headers and file contents by absolute path.
type Contents struct {
	Config  *v1.ConfigFile
	Headers map[string]*tar.Header
	Data    map[string][]byte
}

// ReadArchive reads the image tagged ref from a docker archive WriteImage
// wrote (one layer), for checking what a node will import.
func ReadArchive(archive, ref string) (*Contents, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return nil, err
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		return nil, fmt.Errorf("%s from %s: %w", ref, archive, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("%s: %d layers, want 1", ref, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	c := &Contents{Config: cf, Headers: map[string]*tar.Header{}, Data: map[string][]byte{}}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return nil, err
		}
		p := "/" + strings.TrimSuffix(h.Name, "/")
		c.Headers[p] = h
		if c.Data[p], err = io.ReadAll(tr); err != nil {
			return nil, err
		}
	}
}
