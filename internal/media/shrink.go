package media

import (
	xdraw "golang.org/x/image/draw"
	"image"
	"image/color"
)

// resize scales the part src of img to the bounds dst. Large reductions
// first average k×k blocks (a box filter, which is what the eye wants
// from a reduction, in one pass with no buffer the size of the source),
// then finish with bilinear interpolation over less than a factor of two.
// x/image/draw's kernel scalers alone would do the same work with an
// intermediate buffer of dst width × source height × 32 bytes: 77 MB for
// an 800-wide thumbnail of a 12 MP photo.
func resize(img image.Image, src, dst image.Rectangle) *image.RGBA {
	out := image.NewRGBA(dst)
	k := min(src.Dx()/dst.Dx(), src.Dy()/dst.Dy())
	var from image.Image = img
	fromRect := src
	if k >= 2 {
		if sub, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			img = sub.SubImage(src)
		}
		shrunk := boxShrink(img, src, k)
		from, fromRect = shrunk, shrunk.Bounds()
	}
	xdraw.ApproxBiLinear.Scale(out, dst, from, fromRect, xdraw.Src, nil)
	return out
}

// boxShrink averages each k×k block of the region r of img into one
// pixel of a premultiplied RGBA image.
func boxShrink(img image.Image, r image.Rectangle, k int) *image.RGBA {
	w, h := r.Dx()/k, r.Dy()/k
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	n := uint32(k * k)
	for oy := 0; oy < h; oy++ {
		y0 := r.Min.Y + oy*k
		for ox := 0; ox < w; ox++ {
			x0 := r.Min.X + ox*k
			var sr, sg, sb, sa uint32
			switch m := img.(type) {
			case *image.YCbCr:
				var sy, scb, scr uint32
				for y := y0; y < y0+k; y++ {
					for x := x0; x < x0+k; x++ {
						sy += uint32(m.Y[m.YOffset(x, y)])
						ci := m.COffset(x, y)
						scb += uint32(m.Cb[ci])
						scr += uint32(m.Cr[ci])
					}
				}
				c := color.YCbCr{Y: uint8(sy / n), Cb: uint8(scb / n), Cr: uint8(scr / n)}
				rr, gg, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				sr, sg, sb, sa = uint32(rr)*n, uint32(gg)*n, uint32(bb)*n, 255*n
			case *image.Gray:
				for y := y0; y < y0+k; y++ {
					i := m.PixOffset(x0, y)
					for _, v := range m.Pix[i : i+k] {
						sr += uint32(v)
					}
				}
				sg, sb, sa = sr, sr, 255*n
			case *image.RGBA:
				for y := y0; y < y0+k; y++ {
					i := m.PixOffset(x0, y)
					for p := m.Pix[i : i+4*k]; len(p) >= 4; p = p[4:] {
						sr, sg, sb, sa = sr+uint32(p[0]), sg+uint32(p[1]), sb+uint32(p[2]), sa+uint32(p[3])
					}
				}
			case *image.NRGBA:
				for y := y0; y < y0+k; y++ {
					i := m.PixOffset(x0, y)
					for p := m.Pix[i : i+4*k]; len(p) >= 4; p = p[4:] {
						a := uint32(p[3])
						sr, sg, sb, sa = sr+uint32(p[0])*a/255, sg+uint32(p[1])*a/255, sb+uint32(p[2])*a/255, sa+a
					}
				}
			default:
				for y := y0; y < y0+k; y++ {
					for x := x0; x < x0+k; x++ {
						cr, cg, cb, ca := img.At(x, y).RGBA()
						sr, sg, sb, sa = sr+cr>>8, sg+cg>>8, sb+cb>>8, sa+ca>>8
					}
				}
			}
			i := out.PixOffset(ox, oy)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(sr/n), uint8(sg/n), uint8(sb/n), uint8(sa/n)
		}
	}
	return out
}
