package media

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"strings"
	"testing"
)

// FuzzMakeThumbnail feeds arbitrary bytes to the thumbnailer, seeded with
// small valid images of every format: it must return a result or an
// error, never panic, and stay within its pixel budget (a small one here,
// so the fuzzer's oversized headers are refused rather than decoded).
func FuzzMakeThumbnail(f *testing.F) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	f.Add(b.Bytes(), uint8(0))
	b.Reset()
	jpeg.Encode(&b, img, nil)
	f.Add(b.Bytes(), uint8(1))
	b.Reset()
	pal := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Black, color.White})
	gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{pal, pal}, Delay: []int{1, 1}})
	f.Add(b.Bytes(), uint8(2))
	if webp, err := os.ReadFile("testdata/gradient-300x200.webp"); err == nil {
		f.Add(webp, uint8(3))
	}
	specs := []thumbSpec{{32, 32, "crop", false}, {16, 16, "scale", false}, {8, 8, "crop", true}, {96, 96, "scale", true}}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		spec := specs[int(which)%len(specs)]
		res, err := makeThumbnail(bytes.NewReader(data), int64(len(data)), spec, 1_000_000)
		if err != nil || res.original {
			return
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(res.data))
		if err != nil {
			t.Fatalf("thumbnail does not decode: %v", err)
		}
		if cfg.Width > max(spec.width, spec.height) || cfg.Height > max(spec.width, spec.height) {
			t.Fatalf("thumbnail %d×%d for a %d×%d box", cfg.Width, cfg.Height, spec.width, spec.height)
		}
	})
}

// FuzzParseOpenGraph: any page gives a bounded map, without panicking.
func FuzzParseOpenGraph(f *testing.F) {
	f.Add(`<html><head><title>T</title><meta property="og:title" content="x"><meta name="description" content="d"></head></html>`)
	f.Add(`<meta property=og:image content=/a.png><script><meta property="og:title" content="no"></script>`)
	f.Add("<title>" + strings.Repeat("a", 5000))
	f.Fuzz(func(t *testing.T, page string) {
		og := parseOpenGraph(strings.NewReader(page))
		if len(og) > maxOGKeys+2 {
			t.Fatalf("%d keys", len(og))
		}
		for k, v := range og {
			if len([]rune(v)) > maxOGValue+1 {
				t.Fatalf("%s is %d runes long", k, len([]rune(v)))
			}
		}
	})
}
