package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/testenv"
)

// instructions reads a Dockerfile: one string per instruction, with
// continuation lines joined, comments and blank lines left out, runs of
// spaces made one.
func instructions(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		cur += " " + strings.TrimSuffix(trimmed, `\`)
		if strings.HasSuffix(trimmed, `\`) {
			continue
		}
		out = append(out, strings.Join(strings.Fields(cur), " "))
		cur = ""
	}
	return out
}

// finalStage is the image the file ships: its last FROM on, with each
// COPY reduced to its destination and flags other than --from, since the
// two files take the same files from different places.
func finalStage(t *testing.T, ins []string) []string {
	t.Helper()
	last := -1
	for i, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("no FROM")
	}
	var out []string
	for _, in := range ins[last:] {
		if f := strings.Fields(in); f[0] == "COPY" {
			var kept []string
			for _, a := range f[1 : len(f)-1] {
				if strings.HasPrefix(a, "--") && !strings.HasPrefix(a, "--from=") {
					kept = append(kept, a)
				}
			}
			in = strings.Join(append(append([]string{"COPY"}, kept...), "-> "+f[len(f)-1]), " ")
		}
		out = append(out, in)
	}
	return out
}

// TestImageFilesMatch: the image built from source (Dockerfile) and the one
// packed from a host binary (Containerfile.prebuilt, make image) are the
// same image: same files, user, environment, volume, port, healthcheck and
// entry point.
func TestImageFilesMatch(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	full := finalStage(t, instructions(t, filepath.Join(root, "Dockerfile")))
	prebuilt := finalStage(t, instructions(t, filepath.Join(root, "Containerfile.prebuilt")))
	if strings.Join(full, "\n") != strings.Join(prebuilt, "\n") {
		t.Errorf("the final stages differ; change both files alike.\nDockerfile:\n  %s\nContainerfile.prebuilt:\n  %s",
			strings.Join(full, "\n  "), strings.Join(prebuilt, "\n  "))
	}
	for _, want := range []string{"FROM scratch", "USER 65532:65532", "VOLUME /data", `HEALTHCHECK`, `ENTRYPOINT ["/registry-stack"]`} {
		found := false
		for _, in := range prebuilt {
			found = found || strings.HasPrefix(in, want)
		}
		if !found {
			t.Errorf("Containerfile.prebuilt has no %s", want)
		}
	}
}

// TestImageNamesQualified: podman and buildah resolve no short image names
// unless the machine configures search registries, so every base image
// and compose service image names its registry.
func TestImageNamesQualified(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	qualified := regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?/`)
	var refs []string
	for _, f := range []string{"Dockerfile", "Containerfile.prebuilt"} {
		for _, in := range instructions(t, filepath.Join(root, f)) {
			if fields := strings.Fields(in); fields[0] == "FROM" {
				refs = append(refs, f+": "+fields[1])
			}
		}
	}
	compose, err := os.ReadFile(filepath.Join(root, "configs", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*image:\s*(\S+)`).FindAllStringSubmatch(string(compose), -1) {
		refs = append(refs, "configs/compose.yaml: "+m[1])
	}
	if len(refs) < 3 {
		t.Fatalf("found only %v", refs)
	}
	for _, r := range refs {
		name := r[strings.Index(r, ": ")+2:]
		if name != "scratch" && !qualified.MatchString(name) {
			t.Errorf("%s: name the registry (docker.io/library/...)", r)
		}
	}
}
