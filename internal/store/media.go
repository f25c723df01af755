package store

import (
	"context"
	"database/sql"
	"errors"
)

// Errors of the media methods.
var (
	// ErrQuota: the user's uploads would exceed their quota.
	ErrQuota = errors.New("store: media quota exceeded")
	// ErrPendingLimit: the user holds too many created, unused media IDs.
	ErrPendingLimit = errors.New("store: too many pending media uploads")
	// ErrNotOwner: the media ID was created by another user.
	ErrNotOwner = errors.New("store: media created by another user")
	// ErrAlreadyUploaded: the media ID has content already.
	ErrAlreadyUploaded = errors.New("store: media already uploaded")
)

// Media is one local media item.
type Media struct {
	MediaID     string
	UserID      string // '' for media the server fetched itself
	ContentType string
	UploadName  *string // nil: uploaded without a file name
	Size        int64
	SHA256      string // hex; '' until uploaded
	CreatedTS   int64
	UploadedTS  int64 // 0: created, not uploaded yet
	// UnusedExpiresTS is when a created, not uploaded, ID expires.
	UnusedExpiresTS int64
	// Authenticated media is not served by the legacy unauthenticated
	// endpoints.
	Authenticated bool
	URLCache      bool
	QuarantinedBy string // '' if not quarantined
	QuarantinedTS int64
	// Infected is the scanner's finding on the content, '' if clean.
	Infected  string
	ScannedTS int64
}

// Pending reports whether the media was created but not uploaded yet.
func (m Media) Pending() bool { return m.UploadedTS == 0 }

const mediaColumns = `m.media_id, m.user_id, m.content_type, m.upload_name, m.size, COALESCE(m.sha256, ''),
	m.created_ts, COALESCE(m.uploaded_ts, 0), COALESCE(m.unused_expires_ts, 0), m.authenticated, m.url_cache,
	COALESCE(m.quarantined_by, ''), COALESCE(m.quarantined_ts, 0), COALESCE(b.infected, ''), COALESCE(b.scanned_ts, 0)`

func scanMedia(row interface{ Scan(...any) error }) (Media, error) {
	var m Media
	var name sql.NullString
	err := row.Scan(&m.MediaID, &m.UserID, &m.ContentType, &name, &m.Size, &m.SHA256,
		&m.CreatedTS, &m.UploadedTS, &m.UnusedExpiresTS, &m.Authenticated, &m.URLCache,
		&m.QuarantinedBy, &m.QuarantinedTS, &m.Infected, &m.ScannedTS)
	if name.Valid {
		m.UploadName = &name.String
	}
	return m, mapErr(err)
}

// MediaByID returns a local media item, or ErrNotFound.
func (db *DB) MediaByID(ctx context.Context, mediaID string) (Media, error) {
	return scanMedia(db.read.QueryRowContext(ctx, `SELECT `+mediaColumns+`
		FROM media m LEFT JOIN media_blobs b ON b.sha256 = m.sha256 WHERE m.media_id = $1`, mediaID))
}

// UserMediaBytes is the total size of a user's uploads.
func (db *DB) UserMediaBytes(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM media WHERE user_id = $1`, userID).Scan(&n)
	return n, err
}

// PutBlobFunc stores the content with the given hash in the blob store.
// The media methods call it inside their transaction, after taking the
// lock on the content's media_blobs row, so that it cannot race with the
// deletion of the same content.
type PutBlobFunc func(sha256 string) error

// InsertMedia records an uploaded media item (m.SHA256 and m.Size set)
// and stores its content through put. quota, if not 0, caps the user's
// total bytes (ErrQuota); the check is exact on SQLite and may be
// overshot by concurrent uploads on PostgreSQL.
func (db *DB) InsertMedia(ctx context.Context, m Media, quota int64, put PutBlobFunc) error {
	return db.tx(ctx, func(tx *wtx) error {
		if err := checkQuotaTx(ctx, tx, m.UserID, m.Size, quota); err != nil {
			return err
		}
		if err := refBlobTx(ctx, tx, m.SHA256, m.Size, put); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media (media_id, user_id, content_type, upload_name, size, sha256,
			created_ts, uploaded_ts, authenticated, url_cache) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)`,
			m.MediaID, m.UserID, m.ContentType, m.UploadName, m.Size, m.SHA256, m.CreatedTS, m.Authenticated, m.URLCache)
		return mapErr(err)
	})
}

func checkQuotaTx(ctx context.Context, tx *wtx, userID string, size, quota int64) error {
	if quota == 0 || userID == "" {
		return nil
	}
	var used int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM media WHERE user_id = $1`, userID).Scan(&used); err != nil {
		return err
	}
	if used+size > quota {
		return ErrQuota
	}
	return nil
}

// refBlobTx adds a reference to the content, creating its row if needed,
// and stores it while holding the row's lock.
func refBlobTx(ctx context.Context, tx *wtx, sha256 string, size int64, put PutBlobFunc) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO media_blobs (sha256, size, refs, created_ts) VALUES ($1, $2, 1, $3)
		ON CONFLICT (sha256) DO UPDATE SET refs = media_blobs.refs + 1`, sha256, size, nowMS()); err != nil {
		return err
	}
	return put(sha256)
}

// DeleteBlobFunc deletes content from the blob store; the media methods
// call it inside their transaction when the last reference goes.
type DeleteBlobFunc func(sha256 string) error

// unrefBlobTx drops a reference to the content and reports whether it
// was the last one (the row is then gone).
func unrefBlobTx(ctx context.Context, tx *wtx, sha256 string) (last bool, err error) {
	var refs int
	if err := tx.QueryRowContext(ctx, `UPDATE media_blobs SET refs = refs - 1 WHERE sha256 = $1 RETURNING refs`, sha256).Scan(&refs); err != nil {
		return false, mapErr(err)
	}
	if refs > 0 {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM media_blobs WHERE sha256 = $1`, sha256)
	return err == nil, err
}

// CreatePendingMedia records a media ID created by
// POST /_matrix/media/v1/create (m.UnusedExpiresTS set). maxPending caps
// the user's unexpired pending IDs (ErrPendingLimit).
func (db *DB) CreatePendingMedia(ctx context.Context, m Media, maxPending int) error {
	return db.tx(ctx, func(tx *wtx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM media
			WHERE user_id = $1 AND uploaded_ts IS NULL AND unused_expires_ts > $2`, m.UserID, m.CreatedTS).Scan(&n); err != nil {
			return err
		}
		if n >= maxPending {
			return ErrPendingLimit
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media (media_id, user_id, created_ts, unused_expires_ts, authenticated)
			VALUES ($1, $2, $3, $4, $5)`, m.MediaID, m.UserID, m.CreatedTS, m.UnusedExpiresTS, m.Authenticated)
		return mapErr(err)
	})
}

// CompletePendingMedia stores the content of a created media ID (m's
// MediaID, UserID, ContentType, UploadName, Size and SHA256). It returns
// ErrNotFound for an unknown or expired ID, ErrNotOwner when another user
// created it, ErrAlreadyUploaded when it has content, ErrQuota.
func (db *DB) CompletePendingMedia(ctx context.Context, m Media, now, quota int64, put PutBlobFunc) error {
	return db.tx(ctx, func(tx *wtx) error {
		var owner string
		var uploaded, expires sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT user_id, uploaded_ts, unused_expires_ts FROM media WHERE media_id = $1`, m.MediaID).
			Scan(&owner, &uploaded, &expires)
		switch {
		case err != nil:
			return mapErr(err)
		case owner != m.UserID:
			return ErrNotOwner
		case uploaded.Valid:
			return ErrAlreadyUploaded
		case expires.Valid && expires.Int64 <= now:
			return ErrNotFound
		}
		if err := checkQuotaTx(ctx, tx, m.UserID, m.Size, quota); err != nil {
			return err
		}
		if err := refBlobTx(ctx, tx, m.SHA256, m.Size, put); err != nil {
			return err
		}
		// The condition makes a concurrent second upload (on PostgreSQL,
		// where the read above does not lock) update nothing.
		res, err := tx.ExecContext(ctx, `UPDATE media SET content_type = $2, upload_name = $3, size = $4, sha256 = $5,
			uploaded_ts = $6, unused_expires_ts = NULL WHERE media_id = $1 AND uploaded_ts IS NULL`,
			m.MediaID, m.ContentType, m.UploadName, m.Size, m.SHA256, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrAlreadyUploaded
		}
		return nil
	})
}

// DeleteExpiredPendingMedia forgets created media IDs whose upload never
// came before they expired.
func (db *DB) DeleteExpiredPendingMedia(ctx context.Context, now int64) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM media WHERE uploaded_ts IS NULL AND unused_expires_ts <= $1`, now)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// QuarantineMedia sets (by != "") or clears (by == "") the quarantine of
// a media item; ErrNotFound if there is none.
func (db *DB) QuarantineMedia(ctx context.Context, mediaID, by string) error {
	return db.tx(ctx, func(tx *wtx) error {
		var res sql.Result
		var err error
		if by == "" {
			res, err = tx.ExecContext(ctx, `UPDATE media SET quarantined_by = NULL, quarantined_ts = NULL WHERE media_id = $1`, mediaID)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE media SET quarantined_by = $2, quarantined_ts = $3 WHERE media_id = $1`, mediaID, by, nowMS())
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteMedia deletes media items and their thumbnails, and through del
// the content nothing else refers to. It returns the IDs it deleted
// (unknown ones are skipped).
func (db *DB) DeleteMedia(ctx context.Context, mediaIDs []string, del DeleteBlobFunc) ([]string, error) {
	var deleted []string
	err := db.tx(ctx, func(tx *wtx) error {
		deleted = deleted[:0]
		var gone []string
		for _, id := range mediaIDs {
			// Thumbnails first: they reference the media row.
			thumbs, err := deleteThumbnailsTx(ctx, tx, id)
			if err != nil {
				return err
			}
			var sha sql.NullString
			err = tx.QueryRowContext(ctx, `DELETE FROM media WHERE media_id = $1 RETURNING sha256`, id).Scan(&sha)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if sha.Valid {
				thumbs = append(thumbs, sha.String)
			}
			for _, h := range thumbs {
				last, err := unrefBlobTx(ctx, tx, h)
				if err != nil {
					return err
				}
				if last {
					gone = append(gone, h)
				}
			}
			deleted = append(deleted, id)
		}
		// The content goes last, still under the rows' locks: a failure
		// before this point leaves every file in place. (A failed commit
		// after it loses content that was being deleted anyway.)
		for _, h := range gone {
			if err := del(h); err != nil {
				return err
			}
		}
		return nil
	})
	return deleted, err
}

func deleteThumbnailsTx(ctx context.Context, tx *wtx, mediaID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM media_thumbnails WHERE media_id = $1 RETURNING sha256`, mediaID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return hashes, rows.Err()
}

// SetBlobScan records the scanner's verdict on content: infected is the
// threat found, ” if clean.
func (db *DB) SetBlobScan(ctx context.Context, sha256 string, scannedTS int64, infected string) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE media_blobs SET scanned_ts = $2, infected = $3 WHERE sha256 = $1`, sha256, scannedTS, infected)
		return err
	})
}

// Thumbnail is a generated thumbnail of a media item.
type Thumbnail struct {
	MediaID       string
	Width, Height int // the configured size
	Method        string
	Animated      bool
	ContentType   string
	Size          int64
	SHA256        string
}

// ThumbnailOf returns a stored thumbnail, or ErrNotFound.
func (db *DB) ThumbnailOf(ctx context.Context, mediaID string, width, height int, method string, animated bool) (Thumbnail, error) {
	t := Thumbnail{MediaID: mediaID, Width: width, Height: height, Method: method, Animated: animated}
	err := db.read.QueryRowContext(ctx, `SELECT content_type, size, sha256 FROM media_thumbnails
		WHERE media_id = $1 AND width = $2 AND height = $3 AND method = $4 AND animated = $5`,
		mediaID, width, height, method, animated).Scan(&t.ContentType, &t.Size, &t.SHA256)
	return t, mapErr(err)
}

// InsertThumbnail records a thumbnail and stores its content through put.
// If another process stored the same thumbnail first, it returns
// ErrConflict and the caller reads that one. ErrNotFound: the media item
// is gone.
func (db *DB) InsertThumbnail(ctx context.Context, t Thumbnail, put PutBlobFunc) error {
	return db.tx(ctx, func(tx *wtx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE media_id = $1`, t.MediaID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNotFound
		}
		if err := refBlobTx(ctx, tx, t.SHA256, t.Size, put); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media_thumbnails (media_id, width, height, method, animated, content_type, size, sha256, created_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.MediaID, t.Width, t.Height, t.Method, t.Animated, t.ContentType, t.Size, t.SHA256, nowMS())
		return mapErr(err)
	})
}

// URLPreview returns the cached preview of url in a time bucket, or
// ErrNotFound.
func (db *DB) URLPreview(ctx context.Context, url string, bucket int64) ([]byte, error) {
	var resp string
	err := db.read.QueryRowContext(ctx, `SELECT response FROM media_url_previews WHERE url = $1 AND bucket = $2`, url, bucket).Scan(&resp)
	return []byte(resp), mapErr(err)
}

// PutURLPreview caches a preview; it also forgets previews fetched
// before expireBefore.
func (db *DB) PutURLPreview(ctx context.Context, url string, bucket int64, response []byte, expireBefore int64) error {
	return db.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM media_url_previews WHERE fetched_ts < $1`, expireBefore); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media_url_previews (url, bucket, response, fetched_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (url, bucket) DO UPDATE SET response = excluded.response, fetched_ts = excluded.fetched_ts`,
			url, bucket, string(response), nowMS())
		return err
	})
}

// DeleteURLPreviewsBefore forgets previews fetched before ts.
func (db *DB) DeleteURLPreviewsBefore(ctx context.Context, ts int64) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM media_url_previews WHERE fetched_ts < $1`, ts)
		return err
	})
}

// URLCacheMediaBefore lists up to limit media items fetched for URL
// previews before ts.
func (db *DB) URLCacheMediaBefore(ctx context.Context, ts int64, limit int) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT media_id FROM media WHERE url_cache AND created_ts < $1 LIMIT $2`, ts, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
