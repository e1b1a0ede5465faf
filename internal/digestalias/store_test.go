package digestalias

import (
	"context"
	"errors"
	"path"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	d := inmemory.New()
	s := NewStore(d)
	alias := digest.SHA512.FromString("x")
	canonical := digest.SHA256.FromString("x")
	if err := s.Link(ctx, "a/b", Layer, alias, canonical); err != nil {
		t.Fatal(err)
	}
	bad := digest.SHA512.FromString("bad link")
	if err := d.PutContent(ctx, linkPath("a/b", Layer, bad), []byte("sha512:nothex")); err != nil {
		t.Fatal(err)
	}
	// A link outside the repositories, which "../" in a name would reach.
	if err := d.PutContent(ctx, path.Join(RepositoriesRoot, "../outside/_layers/sha512", alias.Encoded(), "link"), []byte(canonical)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		repo    string
		kind    Kind
		d       digest.Digest
		want    digest.Digest
		noAlias bool // ErrNoAlias; otherwise any other error when want is empty
	}{
		{"alias", "a/b", Layer, alias, canonical, false},
		{"other kind", "a/b", Revision, alias, "", true},
		{"other repository", "a/c", Layer, alias, "", true},
		{"sha256 is no alias", "a/b", Layer, canonical, "", true},
		{"malformed digest", "a/b", Layer, "sha512:zz", "", true},
		{"link to no sha256 digest", "a/b", Layer, bad, "", false},
		{"no repository name", "../outside", Layer, alias, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Resolve(ctx, tt.repo, tt.kind, tt.d)
			switch {
			case tt.want != "":
				if err != nil || got != tt.want {
					t.Errorf("Resolve = %s, %v; want %s", got, err, tt.want)
				}
			case errors.Is(err, ErrNoAlias) != tt.noAlias || err == nil:
				t.Errorf("Resolve = %s, %v; want ErrNoAlias %v", got, err, tt.noAlias)
			}
		})
	}
	if err := s.Link(ctx, "a/b", Layer, canonical, canonical); err == nil {
		t.Error("Link of a sha256 digest: no error")
	}
	if err := s.Link(ctx, "a/../../b", Layer, alias, canonical); err == nil {
		t.Error("Link in no repository: no error")
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	d := inmemory.New()
	s := NewStore(d)
	live, dead := digest.SHA256.FromString("live"), digest.SHA256.FromString("dead")
	for _, p := range []string{linkPath("a/b", Layer, live), linkPath("a/b", Revision, live), linkPath("tags/x", Layer, live)} {
		if err := d.PutContent(ctx, p, []byte(live)); err != nil {
			t.Fatal(err)
		}
	}
	links := []struct {
		repo  string
		kind  Kind
		alias digest.Digest
		to    digest.Digest
		dead  bool
	}{
		{"a/b", Layer, digest.SHA512.FromString("live"), live, false},
		{"a/b", Revision, digest.SHA512.FromString("live"), live, false},
		{"a/b", Layer, digest.SHA512.FromString("dead"), dead, true},
		{"a/b", Revision, digest.SHA384.FromString("dead"), dead, true},
		// "tags" as a repository name component is not the tag directory.
		{"tags/x", Layer, digest.SHA512.FromString("live"), live, false},
		{"tags/x", Layer, digest.SHA512.FromString("dead"), dead, true},
	}
	for _, l := range links {
		if err := s.Link(ctx, l.repo, l.kind, l.alias, l.to); err != nil {
			t.Fatal(err)
		}
	}
	found, err := s.Prune(ctx, true)
	if err != nil || len(found) != 3 {
		t.Fatalf("dry run: %v, %v; want 3 dangling", found, err)
	}
	if _, err := s.Resolve(ctx, "a/b", Layer, digest.SHA512.FromString("dead")); err != nil {
		t.Errorf("dry run removed an alias: %v", err)
	}
	if found, err = s.Prune(ctx, false); err != nil || len(found) != 3 {
		t.Fatalf("prune: %v, %v; want 3 dangling", found, err)
	}
	for _, l := range links {
		_, err := s.Resolve(ctx, l.repo, l.kind, l.alias)
		if gone := errors.Is(err, ErrNoAlias); gone != l.dead {
			t.Errorf("%s %s after prune: %v, want gone=%v", l.repo, l.alias.Algorithm(), err, l.dead)
		}
	}
}
