package typing

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu    sync.Mutex
	rooms []string
}

func (r *recorder) NotifyRoom(pos int64, roomID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rooms = append(r.rooms, roomID)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rooms)
}

// Each change takes a serial and wakes the room; repeating a start only
// extends the timeout; stopping when not typing changes nothing.
func TestSet(t *testing.T) {
	rec := &recorder{}
	tr := New(rec)
	if tr.Pos() != tr.Epoch() {
		t.Fatalf("Pos() = %d; want the epoch %d before any change", tr.Pos(), tr.Epoch())
	}
	steps := []struct {
		user    string
		typing  bool
		want    string
		changes int // serials taken so far
	}{
		{"@a:x", true, "[@a:x]", 1},
		{"@b:x", true, "[@a:x @b:x]", 2},
		{"@a:x", true, "[@a:x @b:x]", 2}, // already typing: no change
		{"@a:x", false, "[@b:x]", 3},
		{"@a:x", false, "[@b:x]", 3}, // not typing: no change
		{"@b:x", false, "[]", 4},
	}
	for _, s := range steps {
		tr.Set("!r:x", s.user, s.typing, time.Minute)
		users, changed := tr.Room("!r:x")
		if got := fmt.Sprint(users); got != s.want {
			t.Fatalf("after Set(%s, %v): Room = %s; want %s", s.user, s.typing, got, s.want)
		}
		if want := tr.Epoch() + int64(s.changes); changed != want || tr.Pos() != want {
			t.Fatalf("after Set(%s, %v): changed %d, Pos %d; want %d", s.user, s.typing, changed, tr.Pos(), want)
		}
		if rec.count() != s.changes {
			t.Fatalf("after Set(%s, %v): %d wake-ups; want %d", s.user, s.typing, rec.count(), s.changes)
		}
	}
	if users, changed := tr.Room("!other:x"); users != nil || changed != 0 {
		t.Fatalf("Room of a room nobody typed in = %v, %d; want nil, 0", users, changed)
	}
}

// A timeout ends typing with a change of its own; a renewed start before
// the timeout pushes it back.
func TestExpiry(t *testing.T) {
	rec := &recorder{}
	tr := New(rec)
	tr.Set("!r:x", "@a:x", true, 50*time.Millisecond)
	tr.Set("!r:x", "@b:x", true, time.Hour)
	time.Sleep(30 * time.Millisecond)
	tr.Set("!r:x", "@a:x", true, 150*time.Millisecond) // renewed: must outlive the first timeout
	time.Sleep(60 * time.Millisecond)
	if users, _ := tr.Room("!r:x"); fmt.Sprint(users) != "[@a:x @b:x]" {
		t.Fatalf("after the first timeout passed = %v; want both still typing (renewed)", users)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		users, changed := tr.Room("!r:x")
		if fmt.Sprint(users) == "[@b:x]" {
			if changed != tr.Epoch()+3 || rec.count() != 3 {
				t.Fatalf("expiry: changed %d, %d wake-ups; want serial %d and 3 wake-ups", changed, rec.count(), tr.Epoch()+3)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("typing did not expire: %v", users)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
