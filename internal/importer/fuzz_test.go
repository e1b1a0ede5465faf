package importer

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzBundle reads a bundle archive made of fuzzed documents (index.json,
// one manifest, one blob, a docker manifest.json): opening, naming and
// loading every image ends with a result or an error, never a panic or a
// hang; every name that is no error has a repository and a tag or a
// digest; an image that loads from an OCI layout is the one its
// index.json entry names (its digest was verified). The documents are
// fuzzed rather than the tar bytes, which archive/tar parses.
func FuzzBundle(f *testing.F) {
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + hashOf([]byte("{}")).String() + `","size":2},"layers":[]}`
	index := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + hashOf([]byte(manifest)).String() + `","size":` + strconv.Itoa(len(manifest)) + `,"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}`
	f.Add(index, manifest, "", []byte("{}"))
	cfg := `{"rootfs":{"type":"layers","diff_ids":["` + hashOf([]byte("abc")).String() + `"]}}`
	f.Add("", "", `[{"Config":"c.json","RepoTags":["team/app:1"],"Layers":["blob"]}]`, []byte(cfg))
	f.Add(`{"manifests":[{"digest":"`+hashOf([]byte(manifest)).String()+`","size":1,"annotations":{"io.containerd.image.name":"docker.io/library/x@`+hashOf([]byte(manifest)).String()+`"}}]}`, manifest, "", []byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, indexJSON, manifestJSON, dockerManifest string, blob []byte) {
		members := [][2]string{
			{"blobs/sha256/" + hashOf([]byte(manifestJSON)).Hex, manifestJSON},
			{"blobs/sha256/" + hashOf(blob).Hex, string(blob)},
			{"blob", string(blob)},
			{"c.json", string(blob)},
		}
		if indexJSON != "" {
			members = append(members, [2]string{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}, [2]string{"index.json", indexJSON})
		}
		if dockerManifest != "" {
			members = append(members, [2]string{"manifest.json", dockerManifest})
		}
		path := filepath.Join(t.TempDir(), "bundle.tar")
		writeTar(t, path, members)
		src, format, err := openSource(path)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		defer src.close()
		var items []item
		if format == formatOCI {
			items, err = ociItems(src, Options{Path: path, Repository: "fuzz/repo"})
		} else {
			items, err = dockerItems(src)
		}
		if err != nil {
			return
		}
		for _, it := range items {
			if it.err != nil {
				continue
			}
			for _, n := range it.names {
				if n.Repository == "" || (n.Tag == "" && n.Digest == "") {
					t.Fatalf("name %+v lacks a repository, or a tag and a digest", n)
				}
			}
			tg, err := it.load(t.Context(), &faults{}, nil)
			var de *DigestError
			if errors.As(err, &de) && de.Want.Hex == "" {
				t.Fatalf("a digest error without the digest: %v", err)
			}
			if err != nil || format != formatOCI {
				continue
			}
			raw, err := tg.RawManifest()
			if err != nil {
				t.Fatal(err)
			}
			if got := hashOf(raw); got != it.entry {
				t.Fatalf("the manifest loaded for entry %s hashes to %s", it.entry, got)
			}
		}
	})
}
