package registry

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// As root the kernel lets every write through, so the real permission
// error is seen in the image's end-to-end test (uid 65532); here the
// message built from it.
func TestDataDirError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want []string
		not  []string
	}{
		{
			name: "permission",
			err:  &fs.PathError{Op: "open", Path: "/data/.lock", Err: syscall.EACCES},
			want: []string{"data dir /data must be writable by uid 65532 gid 65532", "(chown 65532:65532 /data): open /data/.lock: permission denied"},
		},
		{
			name: "other",
			err:  &fs.PathError{Op: "open", Path: "/data/.lock", Err: syscall.EROFS},
			want: []string{"lock /data/.lock: open /data/.lock: read-only file system"},
			not:  []string{"uid", "chown"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dataDirError("/data", "lock /data/.lock", tc.err, 65532, 65532)
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap %v", err, tc.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("%q has %q", err, n)
				}
			}
		})
	}
}
