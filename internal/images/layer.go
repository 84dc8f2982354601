package images

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"time"
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

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
