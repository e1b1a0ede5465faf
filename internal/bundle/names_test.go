package bundle

import "testing"

func TestParseName(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		ann     map[string]string
		want    Name
		wantErr bool
	}{
		{"ours", Name{Repository: "team/app", Tag: "1.0"}.Annotations(), Name{Repository: "team/app", Tag: "1.0"}, false},
		{"by digest", map[string]string{AnnotationRefName: "team/app@" + d}, Name{Repository: "team/app", Digest: d}, false},
		{"host dropped", map[string]string{AnnotationImageName: "127.0.0.1:5000/lab/x:2"}, Name{Repository: "lab/x", Tag: "2"}, false},
		{"single component kept", map[string]string{AnnotationRefName: "myapp:1.0"}, Name{Repository: "myapp", Tag: "1.0"}, false},
		{"dotted first component kept", map[string]string{AnnotationRefName: "acme.corp/app:1.0"}, Name{Repository: "acme.corp/app", Tag: "1.0"}, false},
		{"host and port dropped", map[string]string{AnnotationRefName: "127.0.0.1:5000/lab/x:2"}, Name{Repository: "lab/x", Tag: "2"}, false},
		{"localhost dropped", map[string]string{AnnotationRefName: "localhost/x:1"}, Name{Repository: "x", Tag: "1"}, false},
		{"tag and digest", map[string]string{AnnotationRefName: "a/b:1@" + d}, Name{Repository: "a/b", Tag: "1", Digest: d}, false},
		{"ref.name wins when whole", map[string]string{AnnotationRefName: "a/b:1", AnnotationImageName: "docker.io/c/d:2"}, Name{Repository: "a/b", Tag: "1"}, false},
		{"containerd after a bare tag", map[string]string{AnnotationRefName: "latest", AnnotationImageName: "docker.io/library/busybox:1"}, Name{Repository: "library/busybox", Tag: "1"}, false},
		{"bad digest", map[string]string{AnnotationRefName: "a/b@sha256:xyz"}, Name{}, true},
		{"port but no path", map[string]string{AnnotationRefName: "host:5000:1"}, Name{}, true},
		{"bare tag (skopeo, oras)", map[string]string{AnnotationRefName: "v1.2"}, Name{Tag: "v1.2"}, false},
		{"none", map[string]string{}, Name{}, true},
		{"bad tag", map[string]string{AnnotationRefName: "-x"}, Name{}, true},
		{"no tag nor digest", map[string]string{AnnotationRefName: "team/app"}, Name{}, true},
		{"upper case repo", map[string]string{AnnotationRefName: "team/App:1"}, Name{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseName(tt.ann)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNameString(t *testing.T) {
	if got := (Name{Repository: "a/b", Tag: "t", Digest: "sha256:x"}).String(); got != "a/b:t" {
		t.Errorf("tag wins: %q", got)
	}
	if got := (Name{Repository: "a/b", Digest: "sha256:x"}).String(); got != "a/b@sha256:x" {
		t.Errorf("digest: %q", got)
	}
}

// Whatever export writes, import reads back unchanged.
func TestNameRoundTrip(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, n := range []Name{
		{Repository: "myapp", Tag: "1.0"},
		{Repository: "acme.corp/app", Tag: "1.0"},
		{Repository: "team/app", Tag: "latest"},
		{Repository: "a/b/c", Digest: d},
		{Repository: "library/busybox", Tag: "1"},
	} {
		got, err := ParseName(n.Annotations())
		if err != nil || got != n {
			t.Errorf("ParseName(%v.Annotations()) = %+v, %v", n, got, err)
		}
	}
}
