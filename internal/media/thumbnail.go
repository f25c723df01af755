package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// thumbnailTypes are the uploaded types thumbnails are made of.
var thumbnailTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true, "image/apng": true}

// thumbnailAuthed answers GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}.
func (r *Repo) thumbnailAuthed(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	return r.thumbnail(w, req, true)
}

// thumbnailLegacy answers the deprecated GET /_matrix/media/v3/thumbnail/….
func (r *Repo) thumbnailLegacy(w http.ResponseWriter, req *http.Request) error {
	return r.thumbnail(w, req, false)
}

func (r *Repo) thumbnail(w http.ResponseWriter, req *http.Request, authed bool) error {
	id, err := r.localMediaID(req)
	if err != nil {
		return err
	}
	spec, err := parseThumbSpec(req)
	if err != nil {
		return err
	}
	if !authed && r.cfg.LegacyEndpoints == "off" {
		return errNotFound
	}
	m, err := r.mediaForServing(req, id)
	if err != nil {
		return err
	}
	if !authed && !r.legacyAllowed(m) {
		return errNotFound
	}
	if err := r.checkServable(req.Context(), m); err != nil {
		return err
	}
	if !thumbnailTypes[baseType(m.ContentType)] {
		return errCannotThumbnail
	}
	size := r.pickSize(spec.width, spec.height, spec.method)
	spec.width, spec.height, spec.method = size.Width, size.Height, size.Method

	t, err := r.db.ThumbnailOf(req.Context(), m.MediaID, spec.width, spec.height, spec.method, spec.animated)
	if errors.Is(err, store.ErrNotFound) {
		t, err = r.generateThumbnail(req.Context(), m, spec)
	}
	if err != nil {
		return err
	}
	ext := map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp", "image/apng": "png"}[baseType(t.ContentType)]
	if ext == "" {
		ext = "bin"
	}
	h := w.Header()
	h.Set("Content-Type", t.ContentType)
	h.Set("Content-Disposition", "inline; filename=thumbnail."+ext)
	return r.serveBlob(w, req, t.SHA256, m.UploadedTS, authed)
}

var errCannotThumbnail = matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Cannot generate thumbnails for the requested content")

// parseThumbSpec reads width, height, method and animated.
func parseThumbSpec(req *http.Request) (thumbSpec, error) {
	q := req.URL.Query()
	var spec thumbSpec
	for _, p := range []struct {
		name string
		v    *int
	}{{"width", &spec.width}, {"height", &spec.height}} {
		s := q.Get(p.name)
		if s == "" {
			return spec, matrix.MissingParam("Missing %s", p.name)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return spec, matrix.InvalidParam("%s must be an integer between 1 and 10000", p.name)
		}
		*p.v = n
	}
	spec.method = q.Get("method")
	switch spec.method {
	case "":
		spec.method = "scale"
	case "crop", "scale":
	default:
		return spec, matrix.InvalidParam(`method must be "crop" or "scale"`)
	}
	switch q.Get("animated") {
	case "", "false":
	case "true":
		spec.animated = true
	default:
		return spec, matrix.InvalidParam("animated must be true or false")
	}
	return spec, nil
}

// pickSize chooses among the configured sizes, as Synapse does: the
// smallest of the requested method at least as large as asked in both
// dimensions, else the largest of that method; sizes of the other method
// only when none is configured for it.
func (r *Repo) pickSize(w, h int, method string) config.ThumbnailSize {
	var best, largest *config.ThumbnailSize
	for pass := 0; pass < 2 && largest == nil; pass++ {
		for i := range r.cfg.Thumbnails {
			t := &r.cfg.Thumbnails[i]
			if pass == 0 && t.Method != method {
				continue
			}
			if t.Width >= w && t.Height >= h && (best == nil || t.Width*t.Height < best.Width*best.Height) {
				best = t
			}
			if largest == nil || t.Width*t.Height > largest.Width*largest.Height {
				largest = t
			}
		}
	}
	if best != nil {
		return *best
	}
	return *largest
}

// generateThumbnail makes, stores and returns a thumbnail. Concurrent
// requests for the same one share the work, and decoding takes one of
// a few slots so that memory stays bounded under load.
func (r *Repo) generateThumbnail(ctx context.Context, m store.Media, spec thumbSpec) (store.Thumbnail, error) {
	key := fmt.Sprintf("thumb|%s|%d|%d|%s|%t", m.MediaID, spec.width, spec.height, spec.method, spec.animated)
	v, err, _ := r.flight.Do(key, func() (any, error) {
		// The work outlives one client going away: others may wait for it.
		ctx := context.WithoutCancel(ctx)
		select {
		case r.thumbSlots <- struct{}{}:
		case <-r.stop:
			return nil, errors.New("media: shutting down")
		}
		defer func() { <-r.thumbSlots }()
		return r.makeAndStoreThumbnail(ctx, m, spec)
	})
	if err != nil {
		return store.Thumbnail{}, err
	}
	return v.(store.Thumbnail), nil
}

func (r *Repo) makeAndStoreThumbnail(ctx context.Context, m store.Media, spec thumbSpec) (store.Thumbnail, error) {
	hash, err := ParseHash(m.SHA256)
	if err != nil {
		return store.Thumbnail{}, err
	}
	f, err := r.blobs.Open(ctx, hash)
	if errors.Is(err, ErrNoBlob) {
		return store.Thumbnail{}, errNotFound
	}
	if err != nil {
		return store.Thumbnail{}, err
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		// A blob store without random access: decode from memory.
		data, err := io.ReadAll(io.LimitReader(f, m.Size))
		if err != nil {
			return store.Thumbnail{}, err
		}
		ra = bytes.NewReader(data)
	}
	res, err := makeThumbnail(ra, m.Size, spec, r.cfg.MaxImagePixels)
	switch {
	case errors.Is(err, errImageTooLarge):
		return store.Thumbnail{}, matrix.Errorf(http.StatusRequestEntityTooLarge, matrix.ErrTooLarge, "Content is too large to thumbnail")
	case errors.Is(err, errNotImage):
		return store.Thumbnail{}, errCannotThumbnail
	case err != nil:
		return store.Thumbnail{}, err
	}
	t := store.Thumbnail{MediaID: m.MediaID, Width: spec.width, Height: spec.height, Method: spec.method, Animated: spec.animated}
	var put store.PutBlobFunc
	if res.original {
		// The thumbnail is the content itself: one more reference to it.
		t.ContentType, t.Size, t.SHA256 = baseType(m.ContentType), m.Size, m.SHA256
		put = func(string) error { return nil }
	} else {
		sum := Hash(sha256.Sum256(res.data))
		t.ContentType, t.Size, t.SHA256 = res.contentType, int64(len(res.data)), sum.String()
		put = func(string) error { return r.blobs.Put(ctx, sum, bytes.NewReader(res.data)) }
	}
	err = r.db.InsertThumbnail(ctx, t, put)
	if errors.Is(err, store.ErrConflict) {
		// Another process stored it first.
		return r.db.ThumbnailOf(ctx, t.MediaID, t.Width, t.Height, t.Method, t.Animated)
	}
	if errors.Is(err, store.ErrNotFound) {
		return t, errNotFound // deleted meanwhile
	}
	return t, err
}
