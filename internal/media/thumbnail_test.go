package media_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
	"time"
)

// Test images are drawn here; the WebP ones in testdata were made with
// `cwebp` from a 300×200 gradient (Go has no WebP encoder).

func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x*255/w), uint8(y*255/h), 100, 255
		}
	}
	return img
}

func pngBytes(t testing.TB, w, h int) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t testing.TB, w, h int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gradient(w, h), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gifBytes draws an animation of frames frames of w×h, each a different
// colour.
func gifBytes(t testing.TB, w, h, frames int) []byte {
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.Transparent}
	g := &gif.GIF{}
	var imgs [3]*image.Paletted // shared between frames: thousands stay cheap
	for i := range imgs {
		imgs[i] = image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for p := range imgs[i].Pix {
			imgs[i].Pix[p] = uint8(i)
		}
	}
	for i := 0; i < frames; i++ {
		g.Image = append(g.Image, imgs[i%3])
		g.Delay = append(g.Delay, 5)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withEXIFOrientation inserts an APP1 segment with an EXIF orientation
// after a JPEG's SOI marker.
func withEXIFOrientation(jpg []byte, orientation uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	binary.Write(&tiff, binary.BigEndian, uint32(8)) // IFD0 offset
	binary.Write(&tiff, binary.BigEndian, uint16(1)) // one entry
	binary.Write(&tiff, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&tiff, binary.BigEndian, uint32(1))
	binary.Write(&tiff, binary.BigEndian, []uint16{orientation, 0})
	binary.Write(&tiff, binary.BigEndian, uint32(0)) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	out := append([]byte{0xFF, 0xD8, 0xFF, 0xE1}, byte((len(seg)+2)>>8), byte(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func decodeDims(t *testing.T, data []byte) (format string, w, h int) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("thumbnail does not decode: %v (%d bytes)", err, len(data))
	}
	return format, cfg.Width, cfg.Height
}

var thumbnailCases = []struct {
	name      string
	data      func(testing.TB) []byte
	ctype     string
	query     string
	wantType  string
	wantW     int
	wantH     int
	wantExact bool // the original is served
}{
	{"jpeg scale 320x240", func(t testing.TB) []byte { return jpegBytes(t, 1000, 750) }, "image/jpeg", "width=320&height=240&method=scale", "image/jpeg", 320, 240, false},
	{"jpeg scale, smallest size at least as large", func(t testing.TB) []byte { return jpegBytes(t, 1000, 750) }, "image/jpeg", "width=100&height=100", "image/jpeg", 320, 240, false},
	{"jpeg scale beyond the largest size", func(t testing.TB) []byte { return jpegBytes(t, 1000, 750) }, "image/jpeg", "width=2000&height=2000&method=scale", "image/jpeg", 800, 600, false},
	{"png crop 32x32", func(t testing.TB) []byte { return pngBytes(t, 300, 200) }, "image/png", "width=32&height=32&method=crop", "image/png", 32, 32, false},
	{"png crop 50 → 96", func(t testing.TB) []byte { return pngBytes(t, 300, 200) }, "image/png", "width=50&height=50&method=crop", "image/png", 96, 96, false},
	{"png wide scale keeps aspect", func(t testing.TB) []byte { return pngBytes(t, 1200, 300) }, "image/png", "width=320&height=240", "image/png", 320, 80, false},
	{"small image: the original", func(t testing.TB) []byte { return pngBytes(t, 20, 20) }, "image/png", "width=96&height=96&method=crop", "image/png", 20, 20, true},
	{"crop never upscales", func(t testing.TB) []byte { return pngBytes(t, 300, 20) }, "image/png", "width=96&height=96&method=crop", "image/png", 20, 20, false},
	{"webp lossy", func(t testing.TB) []byte { return readFile(t, "testdata/gradient-300x200.webp") }, "image/webp", "width=96&height=96&method=crop", "image/jpeg", 96, 96, false},
	{"webp lossless", func(t testing.TB) []byte { return readFile(t, "testdata/gradient-300x200-lossless.webp") }, "image/webp", "width=32&height=32&method=crop", "image/jpeg", 32, 32, false},
	{"webp that fits: the original", func(t testing.TB) []byte { return readFile(t, "testdata/gradient-300x200.webp") }, "image/webp", "width=120&height=100&method=scale", "image/webp", 300, 200, true},
	{"gif static first frame", func(t testing.TB) []byte { return gifBytes(t, 200, 200, 3) }, "image/gif", "width=96&height=96&method=crop", "image/png", 96, 96, false},
	{"gif animated", func(t testing.TB) []byte { return gifBytes(t, 200, 200, 3) }, "image/gif", "width=96&height=96&method=crop&animated=true", "image/gif", 96, 96, false},
	{"small animated gif: the original", func(t testing.TB) []byte { return gifBytes(t, 50, 50, 3) }, "image/gif", "width=96&height=96&method=crop&animated=true", "image/gif", 50, 50, true},
	{"small animated gif, not animated: a still", func(t testing.TB) []byte { return gifBytes(t, 50, 50, 3) }, "image/gif", "width=96&height=96&method=crop", "image/png", 50, 50, false},
	{"animated asked of a jpeg: a still", func(t testing.TB) []byte { return jpegBytes(t, 400, 300) }, "image/jpeg", "width=96&height=96&method=crop&animated=true", "image/jpeg", 96, 96, false},
	{"exif rotated 90°", func(t testing.TB) []byte { return withEXIFOrientation(jpegBytes(t, 800, 400), 6) }, "image/jpeg", "width=320&height=240", "image/jpeg", 120, 240, false},
	// 25 MP of one grey: a 40 KB file that decodes within the budget.
	{"big but within budget", func(t testing.TB) []byte {
		var buf bytes.Buffer
		png.Encode(&buf, image.NewGray(image.Rect(0, 0, 5000, 5000)))
		return buf.Bytes()
	}, "image/png", "width=32&height=32&method=crop", "image/png", 32, 32, false},
}

func readFile(t testing.TB, name string) []byte {
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestThumbnails(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		for _, c := range thumbnailCases {
			data := c.data(t)
			mxc := e.upload(e.alice, data, c.ctype, "")
			r := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(mxc)+"?"+c.query)
			if r.status != 200 {
				t.Errorf("%s: thumbnail = %d %s; want 200", c.name, r.status, r.body)
				continue
			}
			if got := r.header.Get("Content-Type"); got != c.wantType {
				t.Errorf("%s: Content-Type = %q; want %q", c.name, got, c.wantType)
			}
			if d := r.header.Get("Content-Disposition"); d[:len("inline; filename=thumbnail.")] != "inline; filename=thumbnail." {
				t.Errorf("%s: Content-Disposition = %q; want inline; filename=thumbnail.*", c.name, d)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Content-Security-Policy") == "" {
				t.Errorf("%s: thumbnail without nosniff and the CSP", c.name)
			}
			_, w, h := decodeDims(t, r.body)
			if w != c.wantW || h != c.wantH {
				t.Errorf("%s: thumbnail is %d×%d; want %d×%d", c.name, w, h, c.wantW, c.wantH)
			}
			if c.wantExact != bytes.Equal(r.body, data) {
				t.Errorf("%s: thumbnail is the original: %t; want %t", c.name, !c.wantExact, c.wantExact)
			}
			if c.wantType == "image/gif" && !c.wantExact {
				g, err := gif.DecodeAll(bytes.NewReader(r.body))
				if err != nil || len(g.Image) != 3 {
					t.Errorf("%s: animated thumbnail has %d frames (%v); want 3", c.name, len(g.Image), err)
				}
			}
		}
	})
}

// A thumbnail is made once and then served from the store.
func TestThumbnailCached(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		mxc := e.upload(e.alice, jpegBytes(t, 1000, 750), "image/jpeg", "")
		path := mediaV1 + "/thumbnail/" + mediaPath(mxc) + "?width=300&height=200"
		first := e.get(e.alice, path)
		// Another request mapping to the same configured size.
		second := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(mxc)+"?width=320&height=240&method=scale")
		if first.status != 200 || !bytes.Equal(first.body, second.body) {
			t.Fatalf("thumbnails differ: %d, %d", first.status, second.status)
		}
		if n := e.count(`SELECT COUNT(*) FROM media_thumbnails`); n != 1 {
			t.Errorf("%d thumbnails stored; want 1", n)
		}
		// The legacy endpoint, frozen, does not serve new media's thumbnails.
		if r := e.get(nil, "/_matrix/media/v3/thumbnail/"+mediaPath(mxc)+"?width=32&height=32"); r.status != 404 {
			t.Errorf("legacy thumbnail of new media = %d; want 404", r.status)
		}
	})
}

func TestThumbnailBadRequests(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		img := e.upload(e.alice, pngBytes(t, 100, 100), "image/png", "")
		txt := e.upload(e.alice, []byte("not an image"), "text/plain", "")
		for _, c := range []struct {
			path, query string
			status      int
			errcode     string
		}{
			{mediaPath(img), "height=32", 400, "M_MISSING_PARAM"},
			{mediaPath(img), "width=32", 400, "M_MISSING_PARAM"},
			{mediaPath(img), "width=-1&height=32", 400, "M_INVALID_PARAM"},
			{mediaPath(img), "width=x&height=32", 400, "M_INVALID_PARAM"},
			{mediaPath(img), "width=32&height=32&method=stretch", 400, "M_INVALID_PARAM"},
			{mediaPath(img), "width=32&height=32&animated=maybe", 400, "M_INVALID_PARAM"},
			{mediaPath(txt), "width=32&height=32", 400, "M_UNKNOWN"},
		} {
			r := e.get(e.alice, mediaV1+"/thumbnail/"+c.path+"?"+c.query)
			if r.status != c.status || r.errcode(t) != c.errcode {
				t.Errorf("thumbnail ?%s = %d %s; want %d %s", c.query, r.status, r.body, c.status, c.errcode)
			}
		}
	})
}

// pngHeader is a PNG signature and IHDR chunk claiming w×h RGBA, then a
// few bytes of IDAT: what a decompression bomb or a lying header looks
// like to DecodeConfig.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00})
	chunk("IEND", nil)
	return b.Bytes()
}

// jpegClaiming is a baseline JPEG header (JFIF, then a frame header)
// claiming w×h, without data.
func jpegClaiming(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
		0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	return append(b, 0xFF, 0xD9)
}

// gifClaiming is a GIF whose logical screen is w×h, with one 1×1 frame.
func gifClaiming(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = append(b, byte(w), byte(w>>8), byte(h), byte(h>>8), 0x80, 0, 0, 0, 0, 0, 255, 255, 255)
	b = append(b, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B)
	return b
}

// Hostile images get a clean error, quickly and without a large
// allocation; the server keeps answering.
func TestHostileImages(t *testing.T) {
	jpg := jpegBytes(t, 640, 480)
	pngData := pngBytes(t, 640, 480)
	cases := []struct {
		name    string
		data    []byte
		ctype   string
		query   string
		status  int
		errcode string
	}{
		{"truncated jpeg", jpg[:len(jpg)/2], "image/jpeg", "width=96&height=96&method=crop", 400, "M_UNKNOWN"},
		{"truncated png", pngData[:len(pngData)/2], "image/png", "width=96&height=96&method=crop", 400, "M_UNKNOWN"},
		{"png header only", pngData[:40], "image/png", "width=96&height=96", 400, "M_UNKNOWN"},
		{"png claiming 100000×100000", pngHeader(100000, 100000), "image/png", "width=96&height=96", 413, "M_TOO_LARGE"},
		{"png claiming 8000×8000 (64 MP)", pngHeader(8000, 8000), "image/png", "width=96&height=96", 413, "M_TOO_LARGE"},
		{"png claiming 4000×4000 with no data", pngHeader(4000, 4000), "image/png", "width=96&height=96", 400, "M_UNKNOWN"},
		{"jpeg claiming 65000×65000", jpegClaiming(65000, 65000), "image/jpeg", "width=96&height=96", 413, "M_TOO_LARGE"},
		{"jpeg claiming 0×0", jpegClaiming(0, 0), "image/jpeg", "width=96&height=96", 400, "M_UNKNOWN"},
		{"gif claiming 60000×60000", gifClaiming(60000, 60000), "image/gif", "width=96&height=96&animated=true", 413, "M_TOO_LARGE"},
		{"garbage typed as png", bytes.Repeat([]byte{0xde, 0xad}, 500), "image/png", "width=96&height=96", 400, "M_UNKNOWN"},
		{"html typed as png", []byte("<html><script>alert(1)</script></html>"), "image/png", "width=32&height=32", 400, "M_UNKNOWN"},
		{"empty file", nil, "image/jpeg", "width=32&height=32", 400, "M_UNKNOWN"},
	}
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		for _, c := range cases {
			mxc := e.upload(e.alice, c.data, c.ctype, "")
			start := time.Now()
			r := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(mxc)+"?"+c.query)
			if r.status != c.status || r.errcode(t) != c.errcode {
				t.Errorf("%s: thumbnail = %d %s; want %d %s", c.name, r.status, r.body, c.status, c.errcode)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: took %v", c.name, d)
			}
		}
		// Thousands of frames: no animation is attempted; a still of the
		// first frame is served.
		mxc := e.upload(e.alice, gifBytes(t, 120, 120, 3000), "image/gif", "")
		r := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(mxc)+"?width=96&height=96&method=crop&animated=true")
		if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
			t.Errorf("3000-frame gif, animated: %d %s %s; want 200 image/png (a still)", r.status, r.header.Get("Content-Type"), r.body)
		}
		// The server still works.
		ok := e.upload(e.alice, pngBytes(t, 300, 200), "image/png", "")
		if r := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(ok)+"?width=32&height=32&method=crop"); r.status != 200 {
			t.Errorf("thumbnail after the hostile ones = %d", r.status)
		}
	})
}
