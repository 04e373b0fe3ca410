# keyport: `make run` starts everything locally; `make test` is what CI runs.
GO ?= go
SHELL := /bin/bash

.PHONY: run test lint generate bench bench-check build soak fuzz

## run: start keyport with local stand-ins (dev IdP, mail catcher) and print its URL
run:
	$(GO) run ./cmd/keyport dev

# metrics runs a verbose go test ($(1): its environment and arguments) and
# prints only the METRIC, test result and ok lines, or everything if it fails.
metrics = out=$$(mktemp); $(1) >$$out 2>&1; rc=$$?; \
  if [ $$rc -eq 0 ]; then grep -E '^(METRIC|--- |ok)' $$out; else cat $$out; fi; rm -f $$out; exit $$rc

# The suites that run a second time on PostgreSQL when KEYPORT_TEST_POSTGRES
# is set: the store, the key service and its packages (jobs, outbox, managed
# keys, rotation), and the end-to-end web stack;
# then the replica tests, which need PostgreSQL and skip without it.
PG_PACKAGES ?= ./models/ ./keysvc/... ./web/
PG_ONLY_RUN ?= ^TestReplicas

## test: lint, then every test with the race detector on SQLite; with
## KEYPORT_TEST_POSTGRES=postgres://... also the store, jobs and web suites on
## PostgreSQL (each test in a fresh schema) and the multi-replica tests
test: lint
	KEYPORT_TEST_POSTGRES= $(GO) test -race -count=1 -timeout 20m ./...
	@echo "make test: the authorization matrix, without the race detector"
	@$(call metrics,KEYPORT_TEST_POSTGRES= $(GO) test -count=1 -v -run '^TestAuthorizationMatrix$$' ./web/)
	@if [ -n "$$KEYPORT_TEST_POSTGRES" ]; then \
	  echo "make test: again on PostgreSQL: $(PG_PACKAGES), and $(PG_ONLY_RUN) in ./cmd/keyport/"; \
	  $(GO) test -race -count=1 -timeout 20m $(PG_PACKAGES) || exit 1; \
	  $(call metrics,$(GO) test -race -count=1 -v -run '$(PG_ONLY_RUN)' ./cmd/keyport/); \
	else echo "make test: KEYPORT_TEST_POSTGRES is not set, PostgreSQL suites skipped"; fi

## soak: the long variants: SQLite kill -9 during writes 200 times (20 in make
## test) and, with KEYPORT_TEST_POSTGRES, the replica tests; KMS faults under
## load for 60s (5s in make test); the 5-minute data-API soak (kpbench soak:
## 200 keys in 20 tenants, 2s cache TTL, heap/goroutines/cache sampled)
soak:
	@$(call metrics,KEYPORT_SOAK=1 $(GO) test -count=1 -v -timeout 30m -run '^(TestSQLiteKill9|TestReplicas)$$' ./cmd/keyport/)
	@$(call metrics,KEYPORT_SOAK=1 $(GO) test -count=1 -v -timeout 10m -run '^TestKMSFaultsUnderLoad$$' ./web/)
	$(GO) run ./cmd/kpbench soak

# Every fuzz target, as package:Name. Crashers land in the package's
# testdata/fuzz/ and from then on run as seeds in make test.
FUZZ_TARGETS ?= ./keysvc/awskms:FuzzParseKeyARN ./keysvc/awskms:FuzzParseAliasARN ./keysvc/awskms:FuzzParseRoleARN \
	./keysvc/envelope:FuzzParseCiphertext ./keysvc/managed:FuzzParseExportPublicKey ./keysvc/kwp:FuzzUnwrap ./handlers/dataapi:FuzzDataAPIJSON ./handlers/dataapi:FuzzFastDecode
FUZZTIME ?= 60s

## fuzz: run each fuzz target for FUZZTIME (default 60s; CI runs 10s each)
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; out=$$(mktemp); \
	  echo "fuzz: $$name ($$pkg) for $(FUZZTIME)"; \
	  if $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg >$$out 2>&1; then tail -n 2 $$out; rm -f $$out; \
	  else cat $$out; rm -f $$out; exit 1; fi; done

## lint: gofmt, go vet, and generated templ files current
lint:
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  before=$$(git status --porcelain -- '*_templ.go'; git diff -- '*_templ.go' | sha256sum); \
	  $(GO) tool templ generate >/dev/null 2>&1; \
	  after=$$(git status --porcelain -- '*_templ.go'; git diff -- '*_templ.go' | sha256sum); \
	  if [ "$$before" != "$$after" ]; then \
	    echo "generated *_templ.go files were stale (now regenerated); review and commit them"; exit 1; fi; \
	fi

## generate: regenerate templ components
generate:
	$(GO) tool templ generate

## bench: benchmarks and load tests; every figure prints as one METRIC line.
## The portal's scale figures run on PostgreSQL (when it answers) and on SQLite.
## Fails (after printing everything) when a test fails or a METRIC line
## misses its target (target_met=false; see bench-check)
bench:
	@log=$$(mktemp); rc=0; \
	  if [ -z "$$KEYPORT_TEST_POSTGRES" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
	    export KEYPORT_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'; fi; \
	  [ -n "$$KEYPORT_TEST_POSTGRES" ] || echo "make bench: no PostgreSQL (KEYPORT_TEST_POSTGRES unset, nothing on 127.0.0.1:5432): its figures are skipped"; \
	  KEYPORT_BENCH=1 $(GO) test -p 1 -count=1 -timeout 60m -v -run 'TestMetric|TestKMSEconomy' ./... >$$log.tests 2>&1 || rc=1; \
	  if [ -n "$$KEYPORT_TEST_POSTGRES" ]; then \
	    KEYPORT_TEST_POSTGRES= KEYPORT_BENCH=1 $(GO) test -count=1 -timeout 30m -v -run 'TestMetric(PortalScale|KeysList10k)' ./web/ >>$$log.tests 2>&1 || rc=1; fi; \
	  grep -E '^(METRIC|--- FAIL|FAIL|ok)' $$log.tests >$$log; cat $$log; \
	  if [ $$rc -ne 0 ]; then echo "make bench: a metric test failed:"; grep -E -B20 '^--- FAIL' $$log.tests; fi; \
	  $(GO) test -run '^$$' -bench . -benchtime 1s ./keysvc/ >$$log.bench 2>&1 || { rc=1; cat $$log.bench; }; \
	  grep -E '^Benchmark' $$log.bench; \
	  ($(GO) run ./cmd/kpbench; echo $$? >$$log.rc) | tee -a $$log; [ "$$(cat $$log.rc)" = 0 ] || rc=1; \
	  $(MAKE) -s bench-check BENCH_LOG=$$log || rc=1; \
	  rm -f $$log $$log.tests $$log.bench $$log.rc; exit $$rc

# bench-check fails when a METRIC line in $(BENCH_LOG) missed its target
# (target_met=false) or names a target without judging it (a target_ field
# but no target_met=true|false): a figure with a target is pass or fail.
bench-check:
	@awk '/^METRIC / && / target_met=false( |$$)/ { print "make bench: target missed: " $$0; bad = 1; next } \
	  /^METRIC / && / target_/ && !/ target_met=(true|false)( |$$)/ { print "make bench: target not judged (no target_met=): " $$0; bad = 1 } \
	  END { exit bad }' $(BENCH_LOG)

## build: the keyport and kmslocal binaries into bin/
build:
	$(GO) build -o bin/ ./cmd/...
