package kmslocal

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// faults is the failure a test asked for; it has its own lock so that
// tuning faults never waits behind a slow request.
type faults struct {
	mu       sync.Mutex
	latency  time.Duration
	throttle float64
	failNext map[string]*pendingFailure
	// wrapSpecs and wrapAlgorithms, when not nil, are all that
	// GetParametersForImport offers (Config.WrappingKeySpecs).
	wrapSpecs, wrapAlgorithms map[string]bool
}

type pendingFailure struct {
	n    int
	code string
}

// SetLatency delays every later request by d before it is handled, to
// exercise client timeouts and concurrent cache misses.
func (s *Server) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	s.faults.latency = d
	s.faults.mu.Unlock()
}

// SetThrottle answers the given fraction (0 to 1) of later requests with
// ThrottlingException. The SDK retries throttling, so a test that wants
// to see it should lower RetryMaxAttempts.
func (s *Server) SetThrottle(fraction float64) {
	s.faults.mu.Lock()
	s.faults.throttle = fraction
	s.faults.mu.Unlock()
}

// FailNext makes the next n calls of op (such as "Decrypt", "AssumeRole",
// or "*" for any operation) fail with the AWS error code given, such as
// "KMSInternalException", "DependencyTimeoutException" or
// "AccessDeniedException"; the HTTP status follows the code.
func (s *Server) FailNext(op string, n int, code string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.failNext == nil {
		s.faults.failNext = map[string]*pendingFailure{}
	}
	if n <= 0 {
		delete(s.faults.failNext, op)
		return
	}
	s.faults.failNext[op] = &pendingFailure{n: n, code: code}
}

// ClearFaults removes latency, throttling and pending failures.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.latency, s.faults.throttle, s.faults.failNext = 0, 0, nil
	s.faults.mu.Unlock()
}

func (s *Server) injectFault(ctx context.Context, op string) *apiError {
	s.faults.mu.Lock()
	latency, throttle := s.faults.latency, s.faults.throttle
	var fail *apiError
	for _, key := range []string{op, "*"} {
		if f := s.faults.failNext[key]; f != nil {
			f.n--
			if f.n <= 0 {
				delete(s.faults.failNext, key)
			}
			fail = newError(f.code, "kmslocal: injected failure of %s", op)
			break
		}
	}
	s.faults.mu.Unlock()
	sleepCtx(ctx, latency)
	if fail != nil {
		return fail
	}
	if throttle > 0 && rand.Float64() < throttle {
		return newError("ThrottlingException", "Rate exceeded")
	}
	return nil
}

// stats counts calls so tests can assert how many KMS calls a feature made.
type stats struct {
	mu    sync.Mutex
	ops   map[string]int
	keys  map[string]int
	keyOp map[[2]string]int
}

func (st *stats) countOp(op string) {
	st.mu.Lock()
	if st.ops == nil {
		st.ops = map[string]int{}
	}
	st.ops[op]++
	st.mu.Unlock()
}

func (st *stats) countKey(keyID, op string) {
	st.mu.Lock()
	if st.keys == nil {
		st.keys, st.keyOp = map[string]int{}, map[[2]string]int{}
	}
	st.keys[keyID]++
	st.keyOp[[2]string{keyID, op}]++
	st.mu.Unlock()
}

// Calls returns how many requests for op (such as "Decrypt") have arrived,
// including ones that failed or were faulted.
func (s *Server) Calls(op string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.ops[op]
}

// KeyCalls returns how many requests used the key with this id (not ARN;
// replicas share the id), and KeyOpCalls narrows that to one operation.
func (s *Server) KeyCalls(keyID string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.keys[keyID]
}

// KeyOpCalls returns how many op requests used the key with this id.
func (s *Server) KeyOpCalls(keyID, op string) int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.keyOp[[2]string{keyID, op}]
}

// CallCounts returns a copy of the per-operation counters.
func (s *Server) CallCounts() map[string]int {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	out := make(map[string]int, len(s.stats.ops))
	for k, v := range s.stats.ops {
		out[k] = v
	}
	return out
}

// ResetCalls zeroes all counters, so a test can count one step only.
func (s *Server) ResetCalls() {
	s.stats.mu.Lock()
	s.stats.ops, s.stats.keys, s.stats.keyOp = nil, nil, nil
	s.stats.mu.Unlock()
}

// OfferWrapping narrows the wrapping key specs and algorithms that
// GetParametersForImport offers, as Config.WrappingKeySpecs and
// WrappingAlgorithms do; nil or empty offers all of AWS's. A name AWS does
// not know is an error.
func (s *Server) OfferWrapping(specs, algorithms []string) error {
	set := func(names []string, known func(string) bool) (map[string]bool, error) {
		if len(names) == 0 {
			return nil, nil
		}
		m := map[string]bool{}
		for _, n := range names {
			if !known(n) {
				return nil, fmt.Errorf("kmslocal: unknown wrapping key spec or algorithm %q", n)
			}
			m[n] = true
		}
		return m, nil
	}
	sp, err := set(specs, func(n string) bool { return wrappingBits[n] != 0 })
	if err != nil {
		return err
	}
	al, err := set(algorithms, func(n string) bool { return wrappingAlgorithms[n] })
	if err != nil {
		return err
	}
	s.faults.mu.Lock()
	s.faults.wrapSpecs, s.faults.wrapAlgorithms = sp, al
	s.faults.mu.Unlock()
	return nil
}

// wrappingOffered reports whether GetParametersForImport offers spec and
// algorithm (both already known to AWS).
func (s *Server) wrappingOffered(spec, algorithm string) *apiError {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.wrapSpecs != nil && !s.faults.wrapSpecs[spec] {
		return errUnsupported("this KMS does not offer WrappingKeySpec %s; it offers %s", spec, strings.Join(slices.Sorted(maps.Keys(s.faults.wrapSpecs)), ", "))
	}
	if s.faults.wrapAlgorithms != nil && !s.faults.wrapAlgorithms[algorithm] {
		return errUnsupported("this KMS does not offer WrappingAlgorithm %s; it offers %s", algorithm, strings.Join(slices.Sorted(maps.Keys(s.faults.wrapAlgorithms)), ", "))
	}
	return nil
}
