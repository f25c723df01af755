package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"time"
)

// MediaConfig configures the media repository (owned by internal/media).
type MediaConfig struct {
	// MaxUploadBytes caps one upload.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// MaxUserBytes caps the total size of one user's uploads; 0: no quota.
	MaxUserBytes int64 `yaml:"max_user_bytes"`
	// MaxPendingUploads caps the media IDs a user may hold from
	// POST /_matrix/media/v1/create without having uploaded to them.
	MaxPendingUploads int `yaml:"max_pending_uploads"`
	// UnusedExpiry is how long a created media ID waits for its upload.
	UnusedExpiry time.Duration `yaml:"unused_expiry"`
	// LegacyEndpoints is what the deprecated unauthenticated
	// /_matrix/media/v3/download and /thumbnail endpoints serve: "open"
	// (everything), "frozen" (only media uploaded while they were open)
	// or "off" (nothing).
	LegacyEndpoints string `yaml:"legacy_endpoints"`
	// UploadRate limits uploads and media ID creations per user and IP.
	UploadRate Rate `yaml:"upload_rate"`
	// MaxImagePixels is the largest image (width × height, and frames ×
	// width × height for animations) the server decodes for thumbnails.
	MaxImagePixels int64 `yaml:"max_image_pixels"`
	// Thumbnails are the sizes generated; a request gets the smallest one
	// of its method at least as large as asked.
	Thumbnails []ThumbnailSize  `yaml:"thumbnails"`
	Scan       ScanConfig       `yaml:"scan"`
	URLPreview URLPreviewConfig `yaml:"url_preview"`
}

// ThumbnailSize is one thumbnail the server produces.
type ThumbnailSize struct {
	Width  int    `yaml:"width"`
	Height int    `yaml:"height"`
	Method string `yaml:"method"` // crop or scale
}

// ScanConfig configures virus scanning of media.
type ScanConfig struct {
	// ClamdSocket is the path of clamd's unix socket; empty: no scanning.
	ClamdSocket string `yaml:"clamd_socket"`
	// Timeout bounds one scan.
	Timeout time.Duration `yaml:"timeout"`
	// RescanAfter is how old a clean verdict may be before the content is
	// scanned again when it is served (signatures improve).
	RescanAfter time.Duration `yaml:"rescan_after"`
}

// URLPreviewConfig configures GET /_matrix/client/v1/media/preview_url.
type URLPreviewConfig struct {
	// Enabled turns previews on. They make the server fetch URLs that
	// users post, so they are off unless the operator opts in.
	Enabled bool `yaml:"enabled"`
	// DenyIPs are CIDR ranges refused in addition to the built-in
	// denylist (loopback, private, link-local, CGNAT, multicast…).
	DenyIPs []string `yaml:"deny_ips"`
	// AllowIPs are CIDR ranges admitted even inside a denied range.
	AllowIPs []string `yaml:"allow_ips"`
	// MaxPageBytes caps how much of an HTML page is read.
	MaxPageBytes int64 `yaml:"max_page_bytes"`
	// MaxImageBytes caps a fetched preview image (and MaxUploadBytes caps
	// it too).
	MaxImageBytes int64 `yaml:"max_image_bytes"`
	// Timeout bounds fetching one URL, redirects and image included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRedirects is how many redirects are followed.
	MaxRedirects int `yaml:"max_redirects"`
	// CacheFor is how long a preview is reused for the same URL.
	CacheFor time.Duration `yaml:"cache_for"`
	// Rate limits previews per user and IP.
	Rate Rate `yaml:"rate"`
}

func defaultMedia() MediaConfig {
	return MediaConfig{
		MaxUploadBytes:    50 << 20,
		MaxUserBytes:      0,
		MaxPendingUploads: 5,
		UnusedExpiry:      24 * time.Hour,
		LegacyEndpoints:   "frozen",
		// Synapse's rc_media_create is 10/s, burst 50.
		UploadRate:     Rate{PerSecond: 10, Burst: 50},
		MaxImagePixels: 32_000_000,
		// The sizes the spec recommends, as Synapse configures them.
		Thumbnails: []ThumbnailSize{
			{32, 32, "crop"}, {96, 96, "crop"},
			{320, 240, "scale"}, {640, 480, "scale"}, {800, 600, "scale"},
		},
		Scan: ScanConfig{Timeout: time.Minute, RescanAfter: 24 * time.Hour},
		URLPreview: URLPreviewConfig{
			DenyIPs:       []string{},
			AllowIPs:      []string{},
			MaxPageBytes:  1 << 20,
			MaxImageBytes: 10 << 20,
			Timeout:       10 * time.Second,
			MaxRedirects:  5,
			CacheFor:      time.Hour,
			Rate:          Rate{PerSecond: 1, Burst: 10},
		},
	}
}

func (m MediaConfig) validate() error {
	if m.MaxUploadBytes < 1024 {
		return &Error{"media.max_upload_bytes", "must be at least 1024"}
	}
	if m.MaxUserBytes < 0 {
		return &Error{"media.max_user_bytes", "must be 0 (no quota) or positive"}
	}
	if m.MaxPendingUploads < 1 {
		return &Error{"media.max_pending_uploads", "must be at least 1"}
	}
	if m.UnusedExpiry < time.Minute {
		return &Error{"media.unused_expiry", "must be at least 1m"}
	}
	switch m.LegacyEndpoints {
	case "open", "frozen", "off":
	default:
		return &Error{"media.legacy_endpoints", `must be "open", "frozen" or "off"`}
	}
	if m.UploadRate.PerSecond <= 0 || m.UploadRate.Burst < 1 {
		return &Error{"media.upload_rate", "per_second must be > 0 and burst >= 1"}
	}
	if m.MaxImagePixels < 1_000_000 || m.MaxImagePixels > 200_000_000 {
		return &Error{"media.max_image_pixels", "must be between 1000000 and 200000000"}
	}
	if len(m.Thumbnails) == 0 {
		return &Error{"media.thumbnails", "must list at least one size"}
	}
	for i, t := range m.Thumbnails {
		key := fmt.Sprintf("media.thumbnails[%d]", i)
		if t.Width < 1 || t.Height < 1 || t.Width > 4096 || t.Height > 4096 {
			return &Error{key, "width and height must be between 1 and 4096"}
		}
		if t.Method != "crop" && t.Method != "scale" {
			return &Error{key, `method must be "crop" or "scale"`}
		}
	}
	if s := m.Scan.ClamdSocket; s != "" && !filepath.IsAbs(s) {
		return &Error{"media.scan.clamd_socket", "must be an absolute path"}
	}
	if m.Scan.Timeout < time.Second {
		return &Error{"media.scan.timeout", "must be at least 1s"}
	}
	if m.Scan.RescanAfter < time.Minute {
		return &Error{"media.scan.rescan_after", "must be at least 1m"}
	}
	p := m.URLPreview
	for i, c := range p.DenyIPs {
		if _, err := netip.ParsePrefix(c); err != nil {
			return &Error{fmt.Sprintf("media.url_preview.deny_ips[%d]", i), "must be a CIDR range such as 10.0.0.0/8"}
		}
	}
	for i, c := range p.AllowIPs {
		if _, err := netip.ParsePrefix(c); err != nil {
			return &Error{fmt.Sprintf("media.url_preview.allow_ips[%d]", i), "must be a CIDR range such as 192.0.2.1/32"}
		}
	}
	if p.MaxPageBytes < 1024 || p.MaxPageBytes > 16<<20 {
		return &Error{"media.url_preview.max_page_bytes", "must be between 1024 and 16777216"}
	}
	if p.MaxImageBytes < 1024 {
		return &Error{"media.url_preview.max_image_bytes", "must be at least 1024"}
	}
	if p.Timeout < time.Second || p.Timeout > 5*time.Minute {
		return &Error{"media.url_preview.timeout", "must be between 1s and 5m"}
	}
	if p.MaxRedirects < 0 || p.MaxRedirects > 20 {
		return &Error{"media.url_preview.max_redirects", "must be between 0 and 20"}
	}
	if p.CacheFor < time.Minute {
		return &Error{"media.url_preview.cache_for", "must be at least 1m"}
	}
	if p.Rate.PerSecond <= 0 || p.Rate.Burst < 1 {
		return &Error{"media.url_preview.rate", "per_second must be > 0 and burst >= 1"}
	}
	return nil
}
