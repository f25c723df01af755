package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failingReader yields some bytes, then an error: an upload cut off.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func files(t *testing.T, root string) []string {
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return out
}

func TestDiskBlobs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := NewDiskBlobs(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("some content")
	h := Hash(sha256.Sum256(data))

	// A failed write leaves nothing: no blob, no temporary file.
	if err := d.Put(ctx, h, &failingReader{n: 100 << 10}); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if f := files(t, root); len(f) != 0 {
		t.Fatalf("files after a failed Put: %v", f)
	}
	if _, err := d.Open(ctx, h); !errors.Is(err, ErrNoBlob) {
		t.Fatalf("Open after a failed Put = %v; want ErrNoBlob", err)
	}

	if err := d.Put(ctx, h, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	want := "/" + h.String()[:2] + "/" + h.String()[2:4] + "/" + h.String()
	if f := files(t, root); len(f) != 1 || f[0] != want {
		t.Fatalf("files = %v; want [%s]", f, want)
	}
	// Same hash again: kept as is.
	if err := d.Put(ctx, h, strings.NewReader("ignored")); err != nil {
		t.Fatal(err)
	}
	f, err := d.Open(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("content = %q; want %q", got, data)
	}

	// A spool on the same file system is moved, not copied.
	spoolDir := filepath.Join(root, "tmp")
	os.Mkdir(spoolDir, 0o700)
	s, err := newSpool(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	other := []byte("other content")
	if err := s.Receive(bytes.NewReader(other), 1024); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	if s.Hash() != Hash(sha256.Sum256(other)) || s.Size() != int64(len(other)) {
		t.Fatalf("spool hash/size wrong")
	}
	if err := d.Put(ctx, s.Hash(), s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if entries, _ := os.ReadDir(spoolDir); len(entries) != 0 {
		t.Errorf("spool left behind after a move")
	}
	if _, err := d.Open(ctx, Hash(sha256.Sum256(other))); err != nil {
		t.Errorf("moved spool not in the store: %v", err)
	}

	// Too large: refused while receiving.
	s, _ = newSpool(spoolDir)
	if err := s.Receive(bytes.NewReader(make([]byte, 2000)), 1024); !errors.Is(err, errTooLarge) {
		t.Errorf("Receive past the limit = %v; want errTooLarge", err)
	}
	s.Close()
	if entries, _ := os.ReadDir(spoolDir); len(entries) != 0 {
		t.Errorf("spool left behind after Close")
	}

	if err := d.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, h); err != nil {
		t.Errorf("second Delete = %v; want nil", err)
	}
	if _, err := ParseHash("zz"); err == nil {
		t.Error("ParseHash(zz) succeeded")
	}
}
