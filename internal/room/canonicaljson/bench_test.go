package canonicaljson

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// benchEvent is a typical federation PDU: an m.room.message of about 1 KB,
// pretty-printed with keys out of order as other servers may send it.
func benchEvent(b *testing.B) []byte {
	data, err := os.ReadFile("testdata/event.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkEncode(b *testing.B) {
	data := benchEvent(b)
	canonical, err := Encode(data, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		in   []byte
	}{{"unsorted", data}, {"canonical", canonical}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(bm.in)))
			b.ReportAllocs()
			out := make([]byte, 0, len(bm.in))
			for b.Loop() {
				if _, err := AppendEncode(out[:0], bm.in, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodingJSONCompact is the floor set by the standard library for
// merely compacting the same bytes (it neither sorts nor checks keys).
func BenchmarkEncodingJSONCompact(b *testing.B) {
	data := benchEvent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := json.Compact(&buf, data); err != nil {
			b.Fatal(err)
		}
	}
}
