package pywheel

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func testWheel(t *testing.T, p Platform) *Wheel {
	t.Helper()
	pkg, readme, lic, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	return &Wheel{Version: "1.2.3", Platform: p, Binary: []byte("\x7fELF binary for " + p.Name()), Package: pkg, README: readme, License: lic, Time: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func build(t *testing.T, w *Wheel) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := w.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Every platform's wheel is what pip requires (PEP 427, PEP 376): RECORD
// lists every member with its sha256 and size, and itself last; WHEEL names
// each tag; METADATA the distribution; the binary is an executable script.
func TestWheelsOfEveryPlatform(t *testing.T) {
	for _, p := range Platforms {
		t.Run(p.Name(), func(t *testing.T) {
			w := testWheel(t, p)
			data := build(t, w)
			if !strings.HasPrefix(w.FileName(), "kfp_doctor-1.2.3-py3-none-") || !strings.HasSuffix(w.FileName(), ".whl") {
				t.Fatalf("file name %s", w.FileName())
			}
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{}
			modes := map[string]os.FileMode{}
			var order []string
			for _, f := range zr.File {
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				files[f.Name], modes[f.Name] = b, f.Mode()
				order = append(order, f.Name)
			}
			di := "kfp_doctor-1.2.3.dist-info/"
			if last := order[len(order)-1]; last != di+"RECORD" {
				t.Fatalf("last member %s, want RECORD", last)
			}
			listed := map[string]bool{}
			sc := bufio.NewScanner(bytes.NewReader(files[di+"RECORD"]))
			for sc.Scan() {
				parts := strings.Split(sc.Text(), ",")
				if len(parts) != 3 {
					t.Fatalf("RECORD line %q", sc.Text())
				}
				listed[parts[0]] = true
				if parts[0] == di+"RECORD" {
					if parts[1] != "" || parts[2] != "" {
						t.Fatalf("RECORD's own line %q", sc.Text())
					}
					continue
				}
				b, ok := files[parts[0]]
				if !ok {
					t.Fatalf("RECORD lists %s, which the wheel lacks", parts[0])
				}
				sum := sha256.Sum256(b)
				if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); parts[1] != want || parts[2] != fmt.Sprint(len(b)) {
					t.Fatalf("%s: RECORD says %s,%s; the member is %s,%d", parts[0], parts[1], parts[2], want, len(b))
				}
			}
			for name := range files {
				if !listed[name] {
					t.Fatalf("%s is not in RECORD", name)
				}
			}
			script := "kfp_doctor-1.2.3.data/scripts/kfp-doctor"
			if !bytes.Equal(files[script], w.Binary) || modes[script]&0o111 == 0 {
				t.Fatalf("the script: %q, mode %v", files[script], modes[script])
			}
			for _, tag := range p.Tags {
				if !strings.Contains(string(files[di+"WHEEL"]), "\nTag: py3-none-"+tag+"\n") {
					t.Fatalf("WHEEL lacks tag %s:\n%s", tag, files[di+"WHEEL"])
				}
			}
			meta := string(files[di+"METADATA"])
			for _, want := range []string{"Metadata-Version: 2.1\n", "Name: kfp-doctor\n", "Version: 1.2.3\n", "Requires-Python: >=3.8\n", "\n\n# kfp-doctor\n"} {
				if !strings.Contains(meta, want) {
					t.Fatalf("METADATA lacks %q", want)
				}
			}
			if strings.Contains(meta, "Requires-Dist") {
				t.Fatal("the package must depend on nothing but the standard library")
			}
			if _, ok := files["kfp_doctor/__init__.py"]; !ok {
				t.Fatal("no kfp_doctor/__init__.py")
			}
			// The same inputs make the same bytes.
			if !bytes.Equal(data, build(t, testWheel(t, p))) {
				t.Fatal("two builds of one wheel differ")
			}
		})
	}
}

func TestPEP440(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                   "1.2.3",
		"1.2.3":                    "1.2.3",
		"v1.2.3-rc.1":              "1.2.3rc1",
		"v0.4.0-beta.2":            "0.4.0b2",
		"v1.2.3-4-gabc1234":        "1.2.3.post4+gabc1234",
		"v1.2.3-4-gabc1234-dirty":  "1.2.3.post4+gabc1234.dirty",
		"v1.2.3-dirty":             "1.2.3+dirty",
		"abc1234":                  "0.0.0+gabc1234",
		"abc1234-dirty":            "0.0.0+gabc1234.dirty",
		"dev":                      "0.0.0+dev",
		"v1.2.3-rc.1-2-gabc1234ff": "1.2.3rc1.post2+gabc1234ff",
	} {
		got, err := PEP440(in)
		if err != nil || got != want {
			t.Errorf("PEP440(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"latest", "v1.2", "v1.2.3; rm -rf /"} {
		if _, err := PEP440(bad); err == nil {
			t.Errorf("PEP440(%q): no error", bad)
		}
	}
}
