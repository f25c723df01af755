package media

import (
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/store"
)

// contentSecurityPolicy is the policy the spec recommends (Synapse's):
// whatever a browser makes of the content, it runs no script.
const contentSecurityPolicy = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';"

// inlineTypes are the types the spec lists as safe to serve inline
// ("Serving inline content"); everything else is an attachment.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true,
	"audio/ogg": true, "audio/wave": true, "audio/wav": true, "audio/x-wav": true,
	"audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// baseType is the lower-case media type without parameters.
func baseType(contentType string) string {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "application/octet-stream"
	}
	return t
}

// disposition is the Content-Disposition for content of the given type
// and (possibly absent) file name: inline only for the spec's safe types,
// the name encoded per RFC 6266 — a token or quoted string when it is
// plain ASCII, else RFC 5987's filename*=UTF-8”… form.
func disposition(contentType string, fileName *string) string {
	d := "attachment"
	if inlineTypes[baseType(contentType)] {
		d = "inline"
	}
	if fileName == nil || *fileName == "" {
		return d
	}
	return d + "; " + encodeFileName(*fileName)
}

func encodeFileName(name string) string {
	if isToken(name) {
		return "filename=" + name
	}
	if isQuotable(name) {
		return `filename="` + name + `"`
	}
	return "filename*=UTF-8''" + encodeRFC5987(name)
}

// encodeRFC5987 percent-encodes every byte of s but RFC 5987's attr-char.
func encodeRFC5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// isQuotable reports whether s is printable ASCII that needs no escaping
// inside a quoted string (no quote or backslash, which browsers parse
// inconsistently).
func isQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// setSafetyHeaders adds the headers every piece of served content gets.
func setSafetyHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	// A document opened from media (a PDF, say) must not leak its URL.
	h.Set("Referrer-Policy", "no-referrer")
}

// downloadAuthed answers GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}].
func (r *Repo) downloadAuthed(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	return r.download(w, req, true)
}

// downloadLegacy answers the deprecated unauthenticated
// GET /_matrix/media/v3/download/…, which serves only what the freeze
// allows (media.legacy_endpoints).
func (r *Repo) downloadLegacy(w http.ResponseWriter, req *http.Request) error {
	return r.download(w, req, false)
}

// legacyAllowed reports whether the legacy endpoints may serve m: all
// media when open, media uploaded before the freeze when frozen.
func (r *Repo) legacyAllowed(m store.Media) bool {
	switch r.cfg.LegacyEndpoints {
	case "open":
		return true
	case "frozen":
		return !m.Authenticated
	}
	return false
}

func (r *Repo) download(w http.ResponseWriter, req *http.Request, authed bool) error {
	id, err := r.localMediaID(req)
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
	name := m.UploadName
	if fn := req.PathValue("fileName"); fn != "" {
		name = &fn
	}
	ct := m.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", disposition(ct, name))
	return r.serveBlob(w, req, m.SHA256, m.UploadedTS, authed)
}

// serveBlob writes content with the safety headers, Range and
// conditional request support (http.ServeContent).
func (r *Repo) serveBlob(w http.ResponseWriter, req *http.Request, sha256 string, modifiedTS int64, authed bool) error {
	hash, err := ParseHash(sha256)
	if err != nil {
		return err
	}
	f, err := r.blobs.Open(req.Context(), hash)
	if errors.Is(err, ErrNoBlob) {
		r.log.Error("media: content missing from the blob store", "sha256", sha256)
		return errNotFound
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	setSafetyHeaders(h)
	// Content under an ID never changes, but it may be deleted or
	// quarantined: a day's caching bounds how long that takes to show.
	// Authenticated responses must not sit in shared caches.
	if authed {
		h.Set("Cache-Control", "private, max-age=86400")
	} else {
		h.Set("Cache-Control", "public, max-age=86400")
	}
	h.Set("ETag", `"`+sha256+`"`)
	http.ServeContent(w, req, "", time.UnixMilli(modifiedTS), f)
	return nil
}
