package config

// MediaConfig configures the media repository (owned by internal/media).
type MediaConfig struct {
	// MaxUploadBytes caps one upload.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
}

func defaultMedia() MediaConfig {
	return MediaConfig{MaxUploadBytes: 50 << 20}
}

func (m MediaConfig) validate() error {
	if m.MaxUploadBytes < 1024 {
		return &Error{"media.max_upload_bytes", "must be at least 1024"}
	}
	return nil
}
