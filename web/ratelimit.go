package web

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"keyport/handlers"
)

// RateLimit is a token bucket: Rate requests per second on average, Burst
// at once. A zero Rate turns the limit off. Limits are kept in each
// process's memory, so with several replicas a client gets the limit once
// per replica it reaches.
type RateLimit struct {
	Rate  float64
	Burst int
}

// maxBuckets bounds a limiter's memory: keys are client addresses or token
// ids, and a flood of new addresses must not grow the map without end.
const maxBuckets = 100_000

// limiter holds one token bucket per key (a client address, a token id).
type limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	// size is len(buckets), readable without the lock: while it is 0 no
	// key is limited, and a check need not even work out its key.
	size atomic.Int64
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(l RateLimit, now func() time.Time) *limiter {
	burst := l.Burst
	if burst < 1 {
		burst = max(1, int(math.Ceil(l.Rate)))
	}
	if now == nil {
		now = time.Now
	}
	return &limiter{limit: rate.Limit(l.Rate), burst: burst, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or says how long until one is
// there.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
		l.size.Store(int64(len(l.buckets)))
	}
	b.seen = now
	if b.lim.AllowN(now, 1) { // no Reservation to allocate on the way through
		return true, 0
	}
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request does not use up a token
		return false, d
	}
	return true, 0
}

// sweep drops buckets idle long enough to have refilled: forgetting them
// changes nothing. If the map is still full (a flood of distinct keys), it
// starts over rather than grow: memory stays bounded, at the price of
// resetting the limits of that moment.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
	l.size.Store(int64(len(l.buckets)))
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// clientIP is the address a request came from. X-Forwarded-For is believed
// only from loopback, link-local and private addresses (a load balancer in
// front of keyport), so a client on the internet cannot pick its own
// address to escape the limit.
var clientIP = echo.ExtractIPFromXFFHeader()

// loginRateLimit limits sign-in starts and callbacks per client address:
// each one costs a round trip to the identity provider.
func loginRateLimit(l RateLimit, now func() time.Time) echo.MiddlewareFunc {
	if l.Rate <= 0 {
		return passThrough
	}
	lim := newLimiter(l, now)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ok, wait := lim.allow(clientIP(c.Request()))
			if ok {
				return next(c)
			}
			c.Response().Header().Set("Retry-After", retryAfter(wait))
			return &handlers.PublicError{Status: http.StatusTooManyRequests, Heading: "Too many sign-in attempts",
				Message: "There were too many sign-in attempts from your network. Wait a minute, then try again."}
		}
	}
}

// refuse answers a request over its limit, asking to wait retryAfter.
type refuse func(c echo.Context, retryAfter string) error

// authFailLimit limits, per client address, API requests whose token (a
// data API service token, a management API key) fails to authenticate, and
// it checks before authentication: an address that has spent its failures
// is refused without the token being looked at, so guessing tokens or
// flooding made-up ids costs keyport nothing (issue 17 #8). Requests that
// authenticate (who says the request's token id, "" when none did) never
// use up the address's allowance, so many services behind one address are
// limited only per token.
func authFailLimit(tooMany refuse, who func(echo.Context) string, l RateLimit, now func() time.Time) echo.MiddlewareFunc {
	if l.Rate <= 0 {
		return passThrough
	}
	lim := newLimiter(l, now)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Until some address has failed, nobody is limited: the address
			// is worked out only when needed.
			if lim.size.Load() > 0 {
				if ok, wait := lim.has(clientIP(c.Request())); !ok {
					return tooMany(c, retryAfter(wait))
				}
			}
			err := next(c)
			if who(c) == "" {
				lim.allow(clientIP(c.Request())) // a failed authentication uses up one
			}
			return err
		}
	}
}

// has reports whether key's bucket holds a token, without taking it, or
// how long until it will.
func (l *limiter) has(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true, 0
	}
	if n := b.lim.TokensAt(now); n < 1 {
		return false, time.Duration((1 - n) / float64(l.limit) * float64(time.Second))
	}
	return true, 0
}

// rateLimit limits API requests per token (who names it). It runs after
// authentication, so only real tokens get a bucket.
func rateLimit(limited refuse, who func(echo.Context) string, l RateLimit, now func() time.Time) echo.MiddlewareFunc {
	if l.Rate <= 0 {
		return passThrough
	}
	lim := newLimiter(l, now)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ok, wait := lim.allow(who(c))
			if ok {
				return next(c)
			}
			return limited(c, retryAfter(wait))
		}
	}
}

func passThrough(next echo.HandlerFunc) echo.HandlerFunc { return next }
