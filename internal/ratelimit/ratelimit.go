// Package ratelimit keeps token buckets per key (a user ID or a client IP).
//
// The buckets live in the memory of one process. With several Chappe
// processes behind a load balancer, each enforces its own share; that is
// what Synapse's workers do too, and it errs on the side of letting a
// user through. A shared limiter (Redis or NATS KV) can implement the same
// Allow method later.
package ratelimit

import (
	"sync"
	"time"
)

// maxKeys bounds memory: when the table is full, buckets that have filled
// up again (idle keys) are dropped first, then the table is reset.
const maxKeys = 100_000

// Limiter is a set of token buckets with the same rate.
type Limiter struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter that refills perSecond tokens a second up to burst.
func New(perSecond float64, burst int) *Limiter {
	return &Limiter{perSecond: perSecond, burst: float64(burst), now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. If none is left it returns false
// and how long until one is.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxKeys {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
	return false, wait
}

// Peek reports whether Allow would succeed now, without taking a token.
func (l *Limiter) Peek(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return true, 0
	}
	tokens := min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSecond)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / l.perSecond * float64(time.Second))
}

// sweepLocked drops buckets that are full again; if that frees too little,
// it forgets everything (a brief amnesty beats unbounded memory).
func (l *Limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.perSecond >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxKeys*9/10 {
		clear(l.buckets)
	}
}
