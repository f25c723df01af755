// Package media is Chappe's media repository: uploads (direct and
// asynchronous), downloads and thumbnails on the authenticated
// /_matrix/client/v1/media endpoints and the deprecated /_matrix/media
// ones, URL previews, virus scanning and the media admin API.
//
// Content is stored once per SHA-256 in a Blobs store (files under
// data_dir/media by default); what each media ID is, who uploaded it and
// its thumbnails are in the database (internal/store). Uploads are
// streamed to a spool file, never held in memory, and reach the blob store
// only once complete, within size and quota, and scanned.
//
// Everything served is sent with a sandboxing Content-Security-Policy and
// nosniff, and only the spec's list of inert types is served inline: any
// other type (HTML, SVG, XML, JavaScript…) is an attachment.
package media

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/ratelimit"
	"chappe.eu/chappe/internal/store"
)

// Error codes of the media API that the rest of the client API does not use.
const (
	ErrCannotOverwriteMedia = "M_CANNOT_OVERWRITE_MEDIA"
	ErrNotYetUploaded       = "M_NOT_YET_UPLOADED"
)

// Authenticator resolves a request's access token; *clientapi.API is one.
type Authenticator interface {
	Authenticate(r *http.Request) (*clientapi.Session, error)
}

// Repo is the media repository of one Chappe process.
type Repo struct {
	cfg        *config.MediaConfig
	serverName string
	rateLimit  bool
	db         *store.DB
	blobs      Blobs
	scanner    Scanner // nil: no scanning
	auth       Authenticator
	log        *slog.Logger
	spoolDir   string
	preview    *previewer // nil: previews off

	limits struct{ upload, preview *ratelimit.Limiter }

	// thumbSlots bounds concurrent image decoding, and so its memory.
	thumbSlots chan struct{}
	// flight merges concurrent requests for the same thumbnail or preview.
	flight singleflight.Group

	// uploadedMu guards uploaded, which is closed and replaced whenever a
	// created media ID gets its content, waking downloads waiting for it.
	uploadedMu sync.Mutex
	uploaded   chan struct{}

	stop       chan struct{}
	background sync.WaitGroup
}

// New returns the media repository configured by cfg, storing content
// under cfg.DataDir/media.
func New(cfg *config.Config, db *store.DB, auth Authenticator, log *slog.Logger) (*Repo, error) {
	root := filepath.Join(cfg.DataDir, "media")
	blobs, err := NewDiskBlobs(root)
	if err != nil {
		return nil, err
	}
	spoolDir := filepath.Join(root, "tmp")
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	cleanSpools(spoolDir)
	m := &cfg.Media
	r := &Repo{
		cfg:        m,
		serverName: cfg.ServerName,
		rateLimit:  cfg.RateLimit.Enabled,
		db:         db,
		blobs:      blobs,
		auth:       auth,
		log:        log,
		spoolDir:   spoolDir,
		thumbSlots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		uploaded:   make(chan struct{}),
		stop:       make(chan struct{}),
	}
	if m.Scan.ClamdSocket != "" {
		r.scanner = &ClamAV{Socket: m.Scan.ClamdSocket, Timeout: m.Scan.Timeout}
	}
	r.limits.upload = ratelimit.New(m.UploadRate.PerSecond, m.UploadRate.Burst)
	r.limits.preview = ratelimit.New(m.URLPreview.Rate.PerSecond, m.URLPreview.Rate.Burst)
	if m.URLPreview.Enabled {
		if r.preview, err = newPreviewer(r, m.URLPreview); err != nil {
			return nil, err
		}
	}
	r.background.Add(1)
	go r.janitor()
	return r, nil
}

// Close stops background work.
func (r *Repo) Close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.background.Wait()
}

// janitor runs Clean every ten minutes.
func (r *Repo) janitor() {
	defer r.background.Done()
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r.Clean(ctx, time.Now())
		cancel()
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

// urlCacheKeep is how long images fetched for URL previews are kept:
// clients show a preview's image for a while after fetching the preview.
const urlCacheKeep = 48 * time.Hour

// Clean forgets created media IDs that expired unused, URL previews past
// media.url_preview.cache_for, and their images past urlCacheKeep.
func (r *Repo) Clean(ctx context.Context, now time.Time) {
	if _, err := r.db.DeleteExpiredPendingMedia(ctx, now.UnixMilli()); err != nil {
		r.log.Warn("media: deleting expired media IDs", "err", err)
	}
	if err := r.db.DeleteURLPreviewsBefore(ctx, now.Add(-r.cfg.URLPreview.CacheFor).UnixMilli()); err != nil {
		r.log.Warn("media: deleting old URL previews", "err", err)
	}
	keep := max(urlCacheKeep, r.cfg.URLPreview.CacheFor)
	ids, err := r.db.URLCacheMediaBefore(ctx, now.Add(-keep).UnixMilli(), 1000)
	if err == nil && len(ids) > 0 {
		_, err = r.deleteMedia(ctx, ids)
	}
	if err != nil {
		r.log.Warn("media: deleting old URL preview images", "err", err)
	}
}

// Register adds the media routes to rt: the client listener's router.
func (r *Repo) Register(rt *httpapi.Router) {
	const v1 = "/_matrix/client/v1/media"
	rt.Handle("GET", v1+"/config", r.authed(r.config))
	rt.Handle("GET", v1+"/download/{serverName}/{mediaId}", r.authed(r.downloadAuthed))
	rt.Handle("GET", v1+"/download/{serverName}/{mediaId}/{fileName}", r.authed(r.downloadAuthed))
	rt.Handle("GET", v1+"/thumbnail/{serverName}/{mediaId}", r.authed(r.thumbnailAuthed))
	rt.Handle("GET", v1+"/preview_url", r.authed(r.previewURL))

	rt.Handle("POST", "/_matrix/media/v1/create", r.authed(r.create))
	for _, v := range []string{"/_matrix/media/v3", "/_matrix/media/r0"} {
		rt.Handle("POST", v+"/upload", r.authed(r.upload))
		rt.Handle("PUT", v+"/upload/{serverName}/{mediaId}", r.authed(r.uploadToCreated))
		rt.Handle("GET", v+"/config", r.authed(r.config))
		rt.Handle("GET", v+"/preview_url", r.authed(r.previewURL))
		rt.Handle("GET", v+"/download/{serverName}/{mediaId}", r.downloadLegacy)
		rt.Handle("GET", v+"/download/{serverName}/{mediaId}/{fileName}", r.downloadLegacy)
		rt.Handle("GET", v+"/thumbnail/{serverName}/{mediaId}", r.thumbnailLegacy)
	}

	const admin = "/_synapse/admin/v1/media"
	rt.Handle("GET", admin+"/{serverName}/{mediaId}", r.admin(r.adminMediaInfo))
	rt.Handle("DELETE", admin+"/{serverName}/{mediaId}", r.admin(r.adminDelete))
	rt.Handle("POST", admin+"/quarantine/{serverName}/{mediaId}", r.admin(r.adminQuarantine))
	rt.Handle("POST", admin+"/unquarantine/{serverName}/{mediaId}", r.admin(r.adminUnquarantine))
	// Synapse has no endpoint for this; the path says it is ours.
	rt.Handle("POST", "/_chappe/admin/v1/rooms/{roomId}/events/{eventId}/purge_media", r.admin(r.adminPurgeEventMedia))
}

type authedFunc func(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error

func (r *Repo) authed(h authedFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) error {
		s, err := r.auth.Authenticate(req)
		if err != nil {
			return err
		}
		return h(w, req, s)
	}
}

func (r *Repo) admin(h authedFunc) httpapi.HandlerFunc {
	return r.authed(func(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
		if !s.IsAdmin {
			return matrix.Forbidden("You are not a server admin")
		}
		return h(w, req, s)
	})
}

// config answers GET /_matrix/client/v1/media/config.
func (r *Repo) config(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"m.upload.size": r.cfg.MaxUploadBytes})
}

// limit takes a token from l for the client's IP and the user.
func (r *Repo) limit(l *ratelimit.Limiter, req *http.Request, userID string) error {
	if !r.rateLimit {
		return nil
	}
	for _, k := range []string{"ip:" + clientIP(req), "user:" + userID} {
		if ok, wait := l.Allow(k); !ok {
			return matrix.Errorf(http.StatusTooManyRequests, matrix.ErrLimitExceeded, "Too many requests").
				With("retry_after_ms", wait.Milliseconds()+1)
		}
	}
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newMediaID returns 24 random letters, as Synapse's media IDs.
func newMediaID() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)] // 256 % 52 bias is immaterial for IDs
	}
	return string(b)
}

// validMediaID reports whether id may be a media ID: only A-Za-z0-9, _
// and - (the spec's rule against path traversal), at most 255 bytes.
func validMediaID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var errNotFound = matrix.NotFound("Media not found")

// localMediaID checks the {serverName}/{mediaId} of a request and returns
// the media ID if it names local media. Remote media is not fetched over
// federation yet; it is answered as not found.
func (r *Repo) localMediaID(req *http.Request) (string, error) {
	server, id := req.PathValue("serverName"), req.PathValue("mediaId")
	if _, err := matrix.ParseServerName(server); err != nil {
		return "", matrix.InvalidParam("Invalid server name")
	}
	if !validMediaID(id) {
		return "", matrix.InvalidParam("Invalid media ID")
	}
	if server != r.serverName {
		// Federation (fetching remote media) is not implemented yet.
		return "", matrix.NotFound("Remote media is not available on this server")
	}
	return id, nil
}

func (r *Repo) mxc(mediaID string) string { return "mxc://" + r.serverName + "/" + mediaID }

// parseMXC returns the media ID of a local mxc:// URI.
func (r *Repo) parseMXC(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "mxc://")
	if !ok {
		return "", false
	}
	server, id, ok := strings.Cut(rest, "/")
	if !ok || server != r.serverName || !validMediaID(id) {
		return "", false
	}
	return id, true
}

// notifyUploaded wakes downloads waiting for created media.
func (r *Repo) notifyUploaded() {
	r.uploadedMu.Lock()
	close(r.uploaded)
	r.uploaded = make(chan struct{})
	r.uploadedMu.Unlock()
}

func (r *Repo) uploadedSignal() <-chan struct{} {
	r.uploadedMu.Lock()
	defer r.uploadedMu.Unlock()
	return r.uploaded
}

// maxWait caps timeout_ms: how long a download waits for created media.
const maxWait = 60 * time.Second

// mediaForServing returns an uploaded media item, waiting up to the
// request's timeout_ms (default 20 s) for a created one to get its
// content: 504 M_NOT_YET_UPLOADED after that. Other processes' uploads
// are noticed by polling once a second.
func (r *Repo) mediaForServing(req *http.Request, mediaID string) (store.Media, error) {
	wait := 20 * time.Second
	if s := req.URL.Query().Get("timeout_ms"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms < 0 {
			return store.Media{}, matrix.InvalidParam("timeout_ms must be a non-negative integer")
		}
		wait = min(time.Duration(ms)*time.Millisecond, maxWait)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		signal := r.uploadedSignal()
		m, err := r.db.MediaByID(req.Context(), mediaID)
		if errors.Is(err, store.ErrNotFound) {
			return m, errNotFound
		}
		if err != nil {
			return m, err
		}
		if !m.Pending() {
			return m, nil
		}
		if m.UnusedExpiresTS <= time.Now().UnixMilli() {
			return m, errNotFound
		}
		select {
		case <-signal:
		case <-poll.C:
		case <-deadline.C:
			return m, matrix.Errorf(http.StatusGatewayTimeout, ErrNotYetUploaded, "Content has not yet been uploaded")
		case <-req.Context().Done():
			return m, req.Context().Err()
		case <-r.stop:
			return m, matrix.Errorf(http.StatusServiceUnavailable, matrix.ErrUnknown, "Server shutting down")
		}
	}
}
