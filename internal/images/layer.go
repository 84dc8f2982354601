package images

import (
	"archive/tar"
	"bytes"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layerTar is an uncompressed tar of exactly one regular file, bin at p
// (leading slash dropped, as in image layers), root-owned, mode 0755, with a
// fixed modification time.
func layerTar(p string, bin []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Writes to a bytes.Buffer cannot fail, and the header is valid by
	// construction (a short relative name, a positive size).
	_ = tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(p, "/"),
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatPAX,
	})
	_, _ = tw.Write(bin)
	_ = tw.Close()
	return buf.Bytes()
}

// uncompressedLayer is a layer of the tar b, stored as it is: `docker
// save` writes its archives' layers so, and every consumer of ours loads
// them into a containerd on this machine (ctr images import, kind load
// image-archive), where gzip bought nothing but time — about 12 s of CPU
// for a matrix run's 13 archives, and the same again to inflate them in
// each cluster. A registry push (crane, skopeo) compresses on the way.
func uncompressedLayer(b []byte) v1.Layer {
	return static.NewLayer(b, types.DockerUncompressedLayer)
}
