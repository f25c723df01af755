package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A 12-megapixel photo (4000×3000), made once: encoding it takes a while.
var (
	photoOnce sync.Once
	photo     []byte
)

func photo12MP(b *testing.B) []byte {
	photoOnce.Do(func() {
		img := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
		for y := 0; y < 3000; y++ {
			for x := 0; x < 4000; x++ {
				img.Y[img.YOffset(x, y)] = uint8((x*x + y*3) >> 6)
			}
		}
		for i := range img.Cb {
			img.Cb[i], img.Cr[i] = uint8(i>>5), uint8(i>>7)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		photo = buf.Bytes()
	})
	return photo
}

// BenchmarkThumbnail12MPJPEG is the latency of making one thumbnail of a
// 12 MP JPEG (decode, scale, encode), per configured size. It runs once
// per thumbnail and size; later requests are served from the store.
func BenchmarkThumbnail12MPJPEG(b *testing.B) {
	data := photo12MP(b)
	for _, spec := range []thumbSpec{
		{32, 32, "crop", false},
		{96, 96, "crop", false},
		{320, 240, "scale", false},
		{640, 480, "scale", false},
		{800, 600, "scale", false},
	} {
		b.Run(spec.method+"-"+strconv.Itoa(spec.width)+"x"+strconv.Itoa(spec.height), func(b *testing.B) {
			runtime.GC()
			b.ReportAllocs()
			stop := sampleHeap()
			for i := 0; i < b.N; i++ {
				res, err := makeThumbnail(bytes.NewReader(data), int64(len(data)), spec, 32_000_000)
				if err != nil || res.original {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
		})
	}
}

// sampleHeap samples the live heap every 2 ms until stop is called, which
// returns the largest value seen.
func sampleHeap() (stop func() uint64) {
	var p uint64
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p = max(p, s[0].Value.Uint64())
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(quit); wg.Wait(); return p }
}
