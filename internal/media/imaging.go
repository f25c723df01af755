package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the WebP decoder with package image
)

// Images are decoded only after their header has been read and checked:
// width × height (frames × width × height for animations) within
// maxPixels, and the decoder's estimated memory within maxPixels × 4
// bytes. So a hostile file — a header claiming 100000×100000, a
// decompression bomb, thousands of frames — is refused (or, for frames,
// thumbnailed without animation) before any large allocation, and a
// truncated or corrupt one fails to decode with an error.

// errImageTooLarge: the image is beyond the pixel or memory budget.
var errImageTooLarge = errors.New("media: image too large to thumbnail")

// errNotImage: the content is not an image we can thumbnail.
var errNotImage = errors.New("media: cannot thumbnail this content")

// maxFrames caps the frames of an animated thumbnail.
const maxFrames = 500

// thumbSpec is what to produce: a box, a method, and whether animation
// is wanted.
type thumbSpec struct {
	width, height int
	method        string // crop or scale
	animated      bool
}

// thumbResult is a thumbnail, or the decision to serve the original.
type thumbResult struct {
	original    bool // the content fits the box: serve it as it is
	data        []byte
	contentType string
}

// imageInfo is what the header tells before decoding.
type imageInfo struct {
	format        string // jpeg, png, gif, webp
	width, height int
	animated      bool
	frames        int   // GIF only
	framePixels   int64 // GIF only: the sum of its frames' areas
	orientation   int   // JPEG EXIF orientation, 1..8
	decodeBytes   int64 // estimated memory to decode one frame
}

// probeImage reads the header of the content in src (size bytes).
func probeImage(src io.ReaderAt, size int64) (imageInfo, error) {
	var info imageInfo
	cfg, format, err := image.DecodeConfig(io.NewSectionReader(src, 0, size))
	if err != nil {
		return info, errNotImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return info, errNotImage
	}
	info.format, info.width, info.height, info.orientation = format, cfg.Width, cfg.Height, 1
	px := int64(cfg.Width) * int64(cfg.Height)
	// Bytes per pixel of the decoded image, by color model; twice that for
	// lossless WebP, whose decoder keeps intermediate buffers.
	bpp := 4.0
	switch cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	case color.Gray16Model, color.Alpha16Model:
		bpp = 2
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	case color.YCbCrModel:
		bpp = 3
	}
	if _, ok := cfg.ColorModel.(color.Palette); ok {
		bpp = 1
	}
	switch format {
	case "jpeg":
		j := jpegHeader(src, size)
		info.orientation = j.orientation
		if j.componentBytes > 0 {
			bpp = j.componentBytes // per pixel, from the sampling factors
			if j.progressive {
				// The progressive decoder keeps every coefficient as an
				// int32 until the end: 4 more bytes per component sample.
				bpp *= 5
			}
		}
	case "gif":
		frames, framePixels, err := scanGIF(io.NewSectionReader(src, 0, size))
		if err != nil {
			return info, errNotImage
		}
		info.frames, info.framePixels, info.animated = frames, framePixels, frames > 1
	case "png":
		info.animated = isAPNG(src, size)
	case "webp":
		info.animated = isAnimatedWebP(src)
		if bpp == 4 {
			bpp = 8
		}
	}
	info.decodeBytes = int64(float64(px) * bpp)
	return info, nil
}

// checkBudget refuses images beyond the pixel and memory budgets.
func (info imageInfo) checkBudget(maxPixels int64) error {
	if int64(info.width)*int64(info.height) > maxPixels || info.decodeBytes > maxPixels*4 {
		return errImageTooLarge
	}
	return nil
}

// makeThumbnail produces a thumbnail of the content in src for spec.
func makeThumbnail(src io.ReaderAt, size int64, spec thumbSpec, maxPixels int64) (thumbResult, error) {
	info, err := probeImage(src, size)
	if err != nil {
		return thumbResult{}, err
	}
	if err := info.checkBudget(maxPixels); err != nil {
		return thumbResult{}, err
	}
	tw, th := spec.width, spec.height
	if info.orientation >= 5 { // rotated a quarter turn: work in the file's axes
		tw, th = th, tw
	}
	fits := info.width <= tw && info.height <= th
	if fits && (!info.animated || spec.animated) {
		// The spec: content smaller than asked is served as it is.
		return thumbResult{original: true}, nil
	}
	if spec.animated && info.format == "gif" && info.animated &&
		info.frames <= maxFrames && int64(info.frames)*int64(info.width)*int64(info.height) <= maxPixels &&
		info.framePixels <= maxPixels {
		g, err := gif.DecodeAll(io.NewSectionReader(src, 0, size))
		if err != nil {
			return thumbResult{}, errNotImage
		}
		out := scaleGIF(g, tw, th, spec.method)
		var buf bytes.Buffer
		if err := gif.EncodeAll(&buf, out); err != nil {
			return thumbResult{}, err
		}
		return thumbResult{data: buf.Bytes(), contentType: "image/gif"}, nil
	}
	// A static thumbnail: of the first frame for an animation.
	img, _, err := image.Decode(io.NewSectionReader(src, 0, size))
	if err != nil {
		return thumbResult{}, errNotImage
	}
	var out image.Image
	if fits {
		out = img
	} else {
		dst, srcRect := thumbGeometry(img.Bounds(), tw, th, spec.method)
		out = resize(img, srcRect, dst)
	}
	out = orient(out, info.orientation)
	return encodeThumbnail(out, info.format)
}

// thumbGeometry returns the thumbnail's bounds and the part of the source
// (bounds b) that is scaled into it. scale fits the whole image in the
// box keeping its aspect; crop fills the box and cuts the overflow
// evenly. Neither ever upscales.
func thumbGeometry(b image.Rectangle, tw, th int, method string) (dst, src image.Rectangle) {
	w, h := b.Dx(), b.Dy()
	if method == "crop" {
		// The largest centred region with the box's aspect ratio.
		cw, ch := w, w*th/tw
		if ch > h {
			cw, ch = h*tw/th, h
		}
		cw, ch = max(cw, 1), max(ch, 1)
		x0, y0 := b.Min.X+(w-cw)/2, b.Min.Y+(h-ch)/2
		src = image.Rect(x0, y0, x0+cw, y0+ch)
		if cw <= tw { // smaller than the box: crop without scaling
			return image.Rect(0, 0, cw, ch), src
		}
		return image.Rect(0, 0, tw, th), src
	}
	// scale: the largest size within the box, aspect kept.
	dw, dh := tw, h*tw/w
	if dh > th {
		dw, dh = w*th/h, th
	}
	return image.Rect(0, 0, max(dw, 1), max(dh, 1)), b
}

// encodeThumbnail encodes as JPEG what came from a photo format and has
// no transparency, and as PNG everything else (transparency, sharp
// edges of drawings and pixel art).
func encodeThumbnail(img image.Image, format string) (thumbResult, error) {
	var buf bytes.Buffer
	if (format == "jpeg" || format == "webp") && opaque(img) {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
			return thumbResult{}, err
		}
		return thumbResult{data: buf.Bytes(), contentType: "image/jpeg"}, nil
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return thumbResult{}, err
	}
	return thumbResult{data: buf.Bytes(), contentType: "image/png"}, nil
}

func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// orient applies an EXIF orientation (2..8) to img.
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // rotated 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // rotated 90° clockwise
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // rotated 90° counter-clockwise
				dx, dy = y, w-1-x
			}
			dst.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}

// scaleGIF scales an animation: each frame is composed on a canvas as a
// viewer would (honouring disposal), scaled by nearest neighbour (which
// keeps the palette's exact colours) and written as a full frame.
func scaleGIF(g *gif.GIF, tw, th int, method string) *gif.GIF {
	bounds := image.Rect(0, 0, g.Config.Width, g.Config.Height)
	dst, srcRect := thumbGeometry(bounds, tw, th, method)
	canvas := image.NewRGBA(bounds)
	var saved *image.RGBA
	out := &gif.GIF{LoopCount: g.LoopCount, Config: image.Config{Width: dst.Dx(), Height: dst.Dy()}}
	for i, frame := range g.Image {
		disposal := byte(gif.DisposalNone)
		if i < len(g.Disposal) {
			disposal = g.Disposal[i]
		}
		if disposal == gif.DisposalPrevious {
			saved = image.NewRGBA(bounds)
			copy(saved.Pix, canvas.Pix)
		}
		draw.Draw(canvas, frame.Bounds(), frame, frame.Bounds().Min, draw.Over)
		small := image.NewRGBA(dst)
		xdraw.NearestNeighbor.Scale(small, dst, canvas, srcRect, xdraw.Src, nil)
		out.Image = append(out.Image, toPaletted(small, frame.Palette))
		delay := 10
		if i < len(g.Delay) {
			delay = g.Delay[i]
		}
		out.Delay = append(out.Delay, delay)
		// Each output frame is whole: clear it before the next one.
		out.Disposal = append(out.Disposal, gif.DisposalBackground)
		switch disposal {
		case gif.DisposalBackground:
			draw.Draw(canvas, frame.Bounds(), image.Transparent, image.Point{}, draw.Src)
		case gif.DisposalPrevious:
			canvas, saved = saved, nil
		}
	}
	return out
}

// toPaletted converts img to a paletted image: with the exact colours it
// has when there are at most 256 of them (nearest-neighbour scaling keeps
// the source's colours), else with the nearest colours of fallback.
func toPaletted(img *image.RGBA, fallback color.Palette) *image.Paletted {
	b := img.Bounds()
	p := image.NewPaletted(b, nil)
	index := map[uint32]uint8{}
	exact := true
	for i := 0; i+3 < len(img.Pix); i += 4 {
		c := color.RGBA{img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3]}
		if c.A == 0 {
			c = color.RGBA{}
		}
		key := uint32(c.R)<<24 | uint32(c.G)<<16 | uint32(c.B)<<8 | uint32(c.A)
		idx, ok := index[key]
		if !ok {
			if len(p.Palette) == 256 {
				exact = false
				break
			}
			idx = uint8(len(p.Palette))
			index[key] = idx
			p.Palette = append(p.Palette, c)
		}
		p.Pix[i/4] = idx
	}
	if exact {
		if len(p.Palette) == 0 {
			p.Palette = color.Palette{color.RGBA{}}
		}
		return p
	}
	pal := append(color.Palette{color.RGBA{}}, fallback...)
	if len(pal) > 256 {
		pal = pal[:256]
	}
	p.Palette = pal
	cache := map[uint32]uint8{}
	for i := 0; i+3 < len(img.Pix); i += 4 {
		c := color.RGBA{img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3]}
		if c.A == 0 {
			p.Pix[i/4] = 0
			continue
		}
		key := uint32(c.R)<<24 | uint32(c.G)<<16 | uint32(c.B)<<8 | uint32(c.A)
		idx, ok := cache[key]
		if !ok {
			idx = uint8(pal.Index(c))
			cache[key] = idx
		}
		p.Pix[i/4] = idx
	}
	return p
}

// scanGIF counts a GIF's frames and the sum of their areas by walking its
// blocks, without decompressing anything. It stops counting past
// maxFrames.
func scanGIF(r io.Reader) (frames int, pixels int64, err error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var hdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, 0, err
	}
	if string(hdr[:6]) != "GIF87a" && string(hdr[:6]) != "GIF89a" {
		return 0, 0, errNotImage
	}
	if hdr[10]&0x80 != 0 {
		if _, err := br.Discard(3 << ((hdr[10] & 7) + 1)); err != nil {
			return 0, 0, err
		}
	}
	skipBlocks := func() error {
		for {
			n, err := br.ReadByte()
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if _, err := br.Discard(int(n)); err != nil {
				return err
			}
		}
	}
	for frames <= maxFrames {
		b, err := br.ReadByte()
		if err != nil {
			return frames, pixels, err
		}
		switch b {
		case 0x21: // extension: label, then sub-blocks
			if _, err := br.ReadByte(); err != nil {
				return frames, pixels, err
			}
			if err := skipBlocks(); err != nil {
				return frames, pixels, err
			}
		case 0x2C: // image descriptor
			var d [9]byte
			if _, err := io.ReadFull(br, d[:]); err != nil {
				return frames, pixels, err
			}
			w, h := binary.LittleEndian.Uint16(d[4:]), binary.LittleEndian.Uint16(d[6:])
			if d[8]&0x80 != 0 {
				if _, err := br.Discard(3 << ((d[8] & 7) + 1)); err != nil {
					return frames, pixels, err
				}
			}
			if _, err := br.ReadByte(); err != nil { // LZW minimum code size
				return frames, pixels, err
			}
			if err := skipBlocks(); err != nil {
				return frames, pixels, err
			}
			frames++
			pixels += int64(w) * int64(h)
		case 0x3B: // trailer
			return frames, pixels, nil
		default:
			return frames, pixels, errNotImage
		}
	}
	return frames, pixels, nil
}

// jpegInfo is what jpegHeader finds in a JPEG's markers.
type jpegInfo struct {
	progressive    bool
	componentBytes float64 // decoded bytes per pixel from the sampling factors; 0 if unknown
	orientation    int     // EXIF orientation, 1 if absent
}

// jpegHeader walks a JPEG's markers up to the start of scan for the frame
// type, the components' sampling and the EXIF orientation.
func jpegHeader(src io.ReaderAt, size int64) jpegInfo {
	info := jpegInfo{orientation: 1}
	r := bufio.NewReader(io.NewSectionReader(src, 0, min(size, 1<<20)))
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return info
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			return info
		}
		if b != 0xFF {
			continue
		}
		marker, err := r.ReadByte()
		if err != nil || marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			return info
		}
		if marker == 0xFF || marker == 0x01 || marker >= 0xD0 && marker <= 0xD7 {
			continue // fill byte, or a marker without a length
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return info
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return info
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(r, seg); err != nil {
			return info
		}
		switch {
		case marker == 0xC0 || marker == 0xC1 || marker == 0xC2:
			info.progressive = marker == 0xC2
			info.componentBytes = sofComponentBytes(seg)
		case marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			if o := exifOrientation(seg[6:]); o >= 1 && o <= 8 {
				info.orientation = o
			}
		}
	}
}

// sofComponentBytes computes, from a start-of-frame segment, the decoded
// samples per pixel: each component's share given its sampling factors.
func sofComponentBytes(seg []byte) float64 {
	if len(seg) < 6 {
		return 0
	}
	n := int(seg[5])
	if len(seg) < 6+3*n || n == 0 {
		return 0
	}
	hmax, vmax := 1, 1
	for i := 0; i < n; i++ {
		f := seg[6+3*i+1]
		hmax, vmax = max(hmax, int(f>>4)), max(vmax, int(f&15))
	}
	total := 0.0
	for i := 0; i < n; i++ {
		f := seg[6+3*i+1]
		total += float64(int(f>>4)*int(f&15)) / float64(hmax*vmax)
	}
	if n == 4 { // CMYK is converted to RGBA as well
		total += 4
	}
	return total
}

// exifOrientation reads tag 0x0112 of IFD0 from a TIFF structure.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 0
	}
	count := int(bo.Uint16(t[off:]))
	for i := 0; i < count; i++ {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 {
			return int(bo.Uint16(t[e+8:]))
		}
	}
	return 0
}

// isAPNG reports whether a PNG has an animation control chunk before its
// image data.
func isAPNG(src io.ReaderAt, size int64) bool {
	off := int64(8)
	var hdr [8]byte
	for i := 0; i < 64 && off+8 <= size; i++ {
		if _, err := src.ReadAt(hdr[:], off); err != nil {
			return false
		}
		switch string(hdr[4:]) {
		case "acTL":
			return true
		case "IDAT":
			return false
		}
		off += 12 + int64(binary.BigEndian.Uint32(hdr[:4]))
	}
	return false
}

// isAnimatedWebP reads the animation flag of an extended (VP8X) WebP.
func isAnimatedWebP(src io.ReaderAt) bool {
	var hdr [21]byte
	if _, err := src.ReadAt(hdr[:], 0); err != nil {
		return false
	}
	return string(hdr[12:16]) == "VP8X" && hdr[20]&0x02 != 0
}
