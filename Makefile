# keyport: `make run` starts everything locally; `make test` is what CI runs.
GO ?= go

.PHONY: run test lint generate bench build

## run: start keyport with local stand-ins (dev IdP, mail catcher) and print its URL
run:
	$(GO) run ./cmd/keyport dev

## test: lint, then every test with the race detector
test: lint
	$(GO) test -race -count=1 ./...

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

## bench: benchmarks and load tests; every figure prints as one METRIC line
bench:
	KEYPORT_BENCH=1 $(GO) test -count=1 -v -run 'TestMetric|TestKMSEconomy' ./... | grep -E '^(METRIC|--- FAIL|FAIL|ok)' || true
	$(GO) test -run '^$$' -bench . -benchtime 1s ./keysvc/ | grep -E '^Benchmark'
	$(GO) run ./cmd/kpbench

## build: the keyport and kmslocal binaries into bin/
build:
	$(GO) build -o bin/ ./cmd/...
