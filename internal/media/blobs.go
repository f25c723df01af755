package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Hash is the SHA-256 of some content: its address in the blob store.
type Hash [sha256.Size]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses the hex form of a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("media: bad content hash %q", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("media: bad content hash %q", s)
	}
	return h, nil
}

// ErrNoBlob is returned by Blobs.Open for content that is not stored.
var ErrNoBlob = errors.New("media: content not in the blob store")

// Blobs stores content by its hash. Content under a hash is immutable and
// complete: a reader never sees a half-written blob. The disk store below
// is the default; an S3-compatible store can implement the same methods.
//
// Callers keep the references (the database's media_blobs rows) and call
// Put and Delete under the lock of the content's row, so an upload and a
// deletion of the same content never interleave.
type Blobs interface {
	// Put stores the content read from r under h, which the caller has
	// computed. Storing content that is there already is not an error.
	// r may be a *Spool, which a store on the same file system moves into
	// place instead of copying.
	Put(ctx context.Context, h Hash, r io.Reader) error
	// Open returns the content under h, or ErrNoBlob.
	Open(ctx context.Context, h Hash) (io.ReadSeekCloser, error)
	// Delete removes the content under h; deleting absent content is not
	// an error.
	Delete(ctx context.Context, h Hash) error
}

// DiskBlobs stores content as files root/ab/cd/<hash>, where ab and cd
// are the hash's first two bytes in hex. Files are written to a
// temporary file in the same directory (or moved from a spool on the same
// file system), synced, and renamed into place, and the directory is
// synced: a crash leaves either the whole file or none.
type DiskBlobs struct {
	root string
}

var _ Blobs = (*DiskBlobs)(nil)

// NewDiskBlobs returns a blob store under root, creating it if needed.
func NewDiskBlobs(root string) (*DiskBlobs, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("media: blob store: %w", err)
	}
	return &DiskBlobs{root: root}, nil
}

func (d *DiskBlobs) path(h Hash) string {
	s := h.String()
	return filepath.Join(d.root, s[0:2], s[2:4], s)
}

// Put implements Blobs.
func (d *DiskBlobs) Put(ctx context.Context, h Hash, r io.Reader) error {
	dst := d.path(h)
	if _, err := os.Stat(dst); err == nil {
		return nil // same hash, same content: deduplicated
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if s, ok := r.(*Spool); ok {
		// The spool is complete and synced; a rename on the same file
		// system is atomic.
		if err := os.Rename(s.f.Name(), dst); err == nil {
			s.moved = true
			return syncDir(dir)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return syncDir(dir)
}

// Open implements Blobs.
func (d *DiskBlobs) Open(ctx context.Context, h Hash) (io.ReadSeekCloser, error) {
	f, err := os.Open(d.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoBlob
	}
	return f, err
}

// Delete implements Blobs.
func (d *DiskBlobs) Delete(ctx context.Context, h Hash) error {
	err := os.Remove(d.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// A Spool is content being received: it is written to a temporary file
// while its hash and size are computed, so that nothing is held in memory
// and nothing reaches the blob store before it is complete and checked.
type Spool struct {
	f     *os.File
	h     hash.Hash
	size  int64
	sum   Hash
	done  bool
	moved bool // renamed into the blob store
}

// newSpool creates a spool in dir.
func newSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, err
	}
	return &Spool{f: f, h: sha256.New()}, nil
}

// Receive copies r into the spool, failing with errTooLarge past limit
// bytes.
func (s *Spool) Receive(r io.Reader, limit int64) error {
	n, err := io.Copy(io.MultiWriter(s.f, s.h), io.LimitReader(r, limit-s.size+1))
	s.size += n
	if err != nil {
		return err
	}
	if s.size > limit {
		return errTooLarge
	}
	return nil
}

var errTooLarge = errors.New("media: content too large")

// Finish syncs the spool and computes the hash; the spool is then read
// from the start.
func (s *Spool) Finish() error {
	if err := s.f.Sync(); err != nil {
		return err
	}
	copy(s.sum[:], s.h.Sum(nil))
	s.done = true
	_, err := s.f.Seek(0, io.SeekStart)
	return err
}

// Hash is the content's hash, once finished.
func (s *Spool) Hash() Hash { return s.sum }

// Size is the number of bytes received.
func (s *Spool) Size() int64 { return s.size }

// Read reads the spooled content.
func (s *Spool) Read(p []byte) (int, error) { return s.f.Read(p) }

// Rewind seeks back to the start.
func (s *Spool) Rewind() error { _, err := s.f.Seek(0, io.SeekStart); return err }

// ReaderAt gives random access (for sniffing and decoding).
func (s *Spool) ReaderAt() io.ReaderAt { return s.f }

// Close removes the spool unless it was moved into the blob store.
func (s *Spool) Close() error {
	err := s.f.Close()
	if !s.moved {
		os.Remove(s.f.Name())
	}
	return err
}

// cleanSpools removes spools left by a crash: those older than a day, so
// that another process's upload in progress is never touched.
func cleanSpools(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
