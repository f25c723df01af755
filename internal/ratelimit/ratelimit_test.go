package ratelimit

import (
	"testing"
	"time"
)

func TestLimiterBurstThenRefill(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(2, 3)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("Allow #%d = false; want true within burst", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("Allow after burst = %v, %v; want false, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("Allow after refill = false; want true")
	}
}

func TestLimiterBoundedKeys(t *testing.T) {
	l := New(1, 1)
	for i := 0; i < maxKeys+10; i++ {
		l.Allow(string(rune(i)))
	}
	if n := len(l.buckets); n > maxKeys {
		t.Fatalf("len(buckets) = %d; want <= %d", n, maxKeys)
	}
}

func TestPeekTakesNothing(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(1, 1)
	l.now = func() time.Time { return now }
	for range 3 {
		if ok, _ := l.Peek("a"); !ok {
			t.Fatal("Peek = false on a full bucket")
		}
	}
	l.Allow("a")
	if ok, wait := l.Peek("a"); ok || wait != time.Second {
		t.Fatalf("Peek on an empty bucket = %v, %v; want false, 1s", ok, wait)
	}
}
