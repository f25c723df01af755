package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Scanner inspects content for malware. Scan reads r to the end and
// returns the name of the threat found, or "" if the content is clean.
// The repository calls it on every upload (infected uploads are refused
// and never stored) and before serving content whose last verdict is
// older than media.scan.rescan_after (content found infected then is
// quarantined by hash: every media ID with that content is refused).
type Scanner interface {
	Scan(ctx context.Context, r io.Reader) (threat string, err error)
}

// ClamAV scans with clamd over its unix socket, with the INSTREAM
// command.
type ClamAV struct {
	Socket  string
	Timeout time.Duration
}

var _ Scanner = (*ClamAV)(nil)

// clamChunk is the size of INSTREAM chunks.
const clamChunk = 64 << 10

// Scan implements Scanner.
func (c *ClamAV) Scan(ctx context.Context, r io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return "", fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// "z" commands are NUL-terminated, and so is the reply.
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return "", fmt.Errorf("clamd: %w", err)
	}
	buf := make([]byte, 4+clamChunk)
	for {
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, err := conn.Write(buf[:4+n]); err != nil {
				// clamd closes the stream when it passes StreamMaxLength;
				// its reply says so.
				break
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", rerr
		}
	}
	conn.Write([]byte{0, 0, 0, 0})
	reply, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil && len(reply) == 0 {
		return "", fmt.Errorf("clamd: reading the verdict: %w", err)
	}
	return parseClamReply(string(bytes.TrimRight(reply, "\x00\n")))
}

// parseClamReply reads "stream: OK", "stream: <name> FOUND" or
// "<message> ERROR".
func parseClamReply(reply string) (string, error) {
	switch {
	case strings.HasSuffix(reply, " OK"):
		return "", nil
	case strings.HasSuffix(reply, " FOUND"):
		threat := strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		if threat == "" {
			threat = "unknown"
		}
		return threat, nil
	}
	return "", fmt.Errorf("clamd: %q", reply)
}

// errInfected is what an infected upload or download gets: 403
// M_FORBIDDEN, with the reason code of matrix-content-scanner (the
// scanner Synapse deployments use), which clients already recognise.
var errInfected = matrix.Forbidden("This file was found to be infected and is refused").
	With("reason", "MCS_MEDIA_NOT_CLEAN")

// errScanUnavailable: scanning is configured but failed. Content is not
// accepted or served unscanned.
var errScanUnavailable = matrix.Errorf(http.StatusServiceUnavailable, matrix.ErrUnknown,
	"Media scanning is unavailable; try again later")

// scanSpool scans an upload before it is stored.
func (r *Repo) scanSpool(ctx context.Context, s *Spool) error {
	if r.scanner == nil {
		return nil
	}
	if err := s.Rewind(); err != nil {
		return err
	}
	threat, err := r.scanner.Scan(ctx, s)
	if err != nil {
		r.log.Error("media: scanning an upload", "err", err)
		return errScanUnavailable
	}
	if threat != "" {
		r.log.Warn("media: infected upload refused", "sha256", s.Hash().String(), "threat", threat)
		return errInfected
	}
	return s.Rewind()
}

// recordScan notes that an upload just stored was scanned clean.
func (r *Repo) recordScan(ctx context.Context, s *Spool) {
	if r.scanner == nil {
		return
	}
	if err := r.db.SetBlobScan(ctx, s.Hash().String(), time.Now().UnixMilli(), ""); err != nil {
		r.log.Warn("media: recording a scan", "err", err)
	}
}

// checkServable refuses media that must not be served: quarantined by an
// administrator (404, as Synapse), infected (403), or — when scanning is
// on and the last verdict is stale — found infected by a new scan.
func (r *Repo) checkServable(ctx context.Context, m store.Media) error {
	if m.QuarantinedBy != "" {
		return errNotFound
	}
	if m.Infected != "" {
		return errInfected
	}
	if r.scanner == nil {
		return nil
	}
	now := time.Now()
	if m.ScannedTS != 0 && now.Sub(time.UnixMilli(m.ScannedTS)) < r.cfg.Scan.RescanAfter {
		return nil
	}
	h, err := ParseHash(m.SHA256)
	if err != nil {
		return err
	}
	f, err := r.blobs.Open(ctx, h)
	if errors.Is(err, ErrNoBlob) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	defer f.Close()
	threat, err := r.scanner.Scan(ctx, f)
	if err != nil {
		r.log.Error("media: scanning before serving", "media_id", m.MediaID, "err", err)
		return errScanUnavailable
	}
	if err := r.db.SetBlobScan(ctx, m.SHA256, now.UnixMilli(), threat); err != nil {
		return err
	}
	if threat != "" {
		r.log.Warn("media: stored content found infected; quarantined", "media_id", m.MediaID, "sha256", m.SHA256, "threat", threat)
		return errInfected
	}
	return nil
}
