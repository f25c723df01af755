package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// previewer fetches pages for URL previews, only from addresses the IP
// policy allows, with every size and time bounded.
type previewer struct {
	repo   *Repo
	cfg    config.URLPreviewConfig
	client *http.Client
}

const previewUserAgent = "Chappe (Matrix homeserver) URL preview"

func newPreviewer(r *Repo, cfg config.URLPreviewConfig) (*previewer, error) {
	policy, err := newIPPolicy(cfg.DenyIPs, cfg.AllowIPs)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: policy.control}
	transport := &http.Transport{
		Proxy:                  nil, // never through an environment proxy, which would bypass the policy
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
	}
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("media: more than %d redirects", cfg.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return errors.New("media: redirect to a non-HTTP URL")
			}
			return nil
		},
	}
	return &previewer{repo: r, cfg: cfg, client: client}, nil
}

// previewURL answers GET /_matrix/client/v1/media/preview_url.
func (r *Repo) previewURL(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	if r.preview == nil {
		return matrix.Errorf(http.StatusNotFound, matrix.ErrUnrecognized, "URL previews are disabled on this server")
	}
	q := req.URL.Query()
	raw := q.Get("url")
	if raw == "" {
		return matrix.MissingParam("Missing url")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > 2000 {
		return matrix.InvalidParam("url must be an http or https URL without credentials, at most 2000 bytes")
	}
	u.Fragment, u.RawFragment = "", ""
	key := u.String()
	ts := time.Now().UnixMilli()
	if s := q.Get("ts"); s != "" {
		if ts, err = strconv.ParseInt(s, 10, 64); err != nil || ts < 0 {
			return matrix.InvalidParam("ts must be a timestamp in milliseconds")
		}
	}
	bucket := ts / r.cfg.URLPreview.CacheFor.Milliseconds()
	if cached, err := r.db.URLPreview(req.Context(), key, bucket); err == nil {
		return writeRawJSON(w, cached)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := r.limit(r.limits.preview, req, s.UserID); err != nil {
		return err
	}
	v, err, _ := r.flight.Do("preview|"+key+"|"+strconv.FormatInt(bucket, 10), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), r.cfg.URLPreview.Timeout)
		defer cancel()
		og, err := r.preview.fetch(ctx, u)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(og)
		if err != nil {
			return nil, err
		}
		expire := time.Now().Add(-r.cfg.URLPreview.CacheFor).UnixMilli()
		if err := r.db.PutURLPreview(ctx, key, bucket, data, expire); err != nil {
			return nil, err
		}
		return data, nil
	})
	if err != nil {
		var denied *errDeniedAddress
		var me *matrix.Error
		switch {
		case errors.As(err, &denied):
			return matrix.Forbidden("URL previews of this address are not allowed")
		case errors.As(err, &me):
			return err
		}
		r.log.Info("media: URL preview failed", "url", key, "err", err)
		return matrix.Errorf(http.StatusBadGateway, matrix.ErrUnknown, "Could not fetch the URL for a preview")
	}
	return writeRawJSON(w, v.([]byte))
}

func writeRawJSON(w http.ResponseWriter, data []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

// get fetches u and returns the response if its status is 200.
func (p *previewer) get(ctx context.Context, u *url.URL, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", previewUserAgent)
	req.Header.Set("Accept", accept)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("media: %s answered %s", u.Redacted(), resp.Status)
	}
	return resp, nil
}

// fetch builds the preview of u: the OpenGraph data of an HTML page, with
// its og:image stored as media, or the URL itself when it is an image.
func (p *previewer) fetch(ctx context.Context, u *url.URL) (map[string]any, error) {
	resp, err := p.get(ctx, u, "text/html,application/xhtml+xml;q=0.9,image/*;q=0.8,*/*;q=0.5")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	og := map[string]any{}
	switch t := baseType(ct); {
	case strings.HasPrefix(t, "image/"):
		if err := p.storeImage(ctx, resp, og); err != nil {
			return nil, err
		}
		return og, nil
	case t == "text/html" || t == "application/xhtml+xml":
	default:
		return og, nil // nothing to show for other content
	}
	body, err := charset.NewReader(io.LimitReader(resp.Body, p.cfg.MaxPageBytes), ct)
	if err != nil {
		return nil, err
	}
	meta := parseOpenGraph(body)
	for k, v := range meta {
		og[k] = v
	}
	if img, _ := og["og:image"].(string); img != "" {
		for _, k := range []string{"og:image", "og:image:url", "og:image:secure_url", "og:image:type", "og:image:width", "og:image:height"} {
			delete(og, k)
		}
		if iu, err := resp.Request.URL.Parse(img); err == nil && (iu.Scheme == "http" || iu.Scheme == "https") {
			if iresp, err := p.get(ctx, iu, "image/*"); err == nil {
				if err := p.storeImage(ctx, iresp, og); err != nil {
					p.repo.log.Info("media: preview image not stored", "url", iu.Redacted(), "err", err)
				}
				iresp.Body.Close()
			}
		}
	}
	return og, nil
}

// storeImage stores an image response as media and describes it in og.
func (p *previewer) storeImage(ctx context.Context, resp *http.Response, og map[string]any) error {
	r := p.repo
	spool, err := newSpool(r.spoolDir)
	if err != nil {
		return err
	}
	defer spool.Close()
	if err := spool.Receive(resp.Body, min(p.cfg.MaxImageBytes, p.repo.cfg.MaxUploadBytes)); err != nil {
		return err
	}
	if err := spool.Finish(); err != nil {
		return err
	}
	info, err := probeImage(spool.ReaderAt(), spool.Size())
	if err != nil {
		return err // not an image after all
	}
	if err := r.scanSpool(ctx, spool); err != nil {
		return err
	}
	ct := "image/" + info.format
	m := store.Media{
		MediaID:       newMediaID(),
		ContentType:   ct,
		Size:          spool.Size(),
		SHA256:        spool.Hash().String(),
		CreatedTS:     time.Now().UnixMilli(),
		Authenticated: r.cfg.LegacyEndpoints != "open",
		URLCache:      true,
	}
	if err := r.db.InsertMedia(ctx, m, 0, r.putSpool(ctx, spool)); err != nil {
		return err
	}
	r.recordScan(ctx, spool)
	og["og:image"] = r.mxc(m.MediaID)
	og["og:image:type"] = ct
	og["og:image:width"] = info.width
	og["og:image:height"] = info.height
	og["matrix:image:size"] = m.Size
	return nil
}

// Limits on what a page may contribute to a preview.
const (
	maxOGValue = 1000 // runes per value
	maxOGKeys  = 50
)

// parseOpenGraph reads the OpenGraph properties (og:*) of an HTML page,
// with the usual fallbacks: <title> for og:title, the description meta
// tag for og:description.
func parseOpenGraph(r io.Reader) map[string]string {
	og := map[string]string{}
	var title, description string
	z := html.NewTokenizer(r)
	z.SetMaxBuf(64 << 10)
	inTitle := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			goto done
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "title":
				inTitle = tt == html.StartTagToken && title == ""
			case "meta":
				var prop, nameAttr, content string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch string(k) {
					case "property":
						prop = strings.ToLower(string(v))
					case "name":
						nameAttr = strings.ToLower(string(v))
					case "content":
						content = string(v)
					}
				}
				if prop == "" && strings.HasPrefix(nameAttr, "og:") {
					prop = nameAttr // some sites use name= for og: tags
				}
				if strings.HasPrefix(prop, "og:") && len(og) < maxOGKeys {
					if _, seen := og[prop]; !seen {
						og[prop] = clip(content)
					}
				}
				if nameAttr == "description" && description == "" {
					description = clip(content)
				}
			}
		case html.TextToken:
			if inTitle {
				title = clip(strings.TrimSpace(string(z.Text())))
				inTitle = false
			}
		case html.EndTagToken:
			inTitle = false
		}
	}
done:
	if og["og:title"] == "" && title != "" {
		og["og:title"] = title
	}
	if og["og:description"] == "" && description != "" {
		og["og:description"] = description
	}
	for k, v := range og {
		if v == "" {
			delete(og, k)
		}
	}
	return og
}

// clip shortens s to maxOGValue runes and collapses whitespace.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxOGValue {
		return s
	}
	return string([]rune(s)[:maxOGValue]) + "…"
}
