package stackrun

import (
	"context"
	"slices"
	"testing"
)

func TestRunnerCommand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix []string
		want   []string
	}{
		{"direct", nil, []string{"/bin/registry-stack", "serve", "--auth", "none"}},
		{"under a prefix", []string{"ip", "netns", "exec", "ns1"}, []string{"ip", "netns", "exec", "ns1", "/bin/registry-stack", "serve", "--auth", "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Runner{Prefix: tc.prefix}
			cmd := r.command(context.Background(), "/bin/registry-stack", "serve", "--auth", "none")
			if !slices.Equal(cmd.Args, tc.want) {
				t.Fatalf("command args %q, want %q", cmd.Args, tc.want)
			}
			if len(tc.prefix) > 0 && !slices.Equal(r.Prefix, tc.prefix) {
				t.Fatalf("the prefix changed to %q", r.Prefix)
			}
		})
	}
}
