# MetaStore — build, run and test. `make run` and `make test` work on a fresh
# Debian machine: `deps` installs what is missing (as root, via apt-get).

GO        ?= go
SEED      ?=
SEEDS     ?= 200
PKGS_RACE := ./core/... ./engines/... ./checker/... ./net/...

.PHONY: all deps build run cluster test test-grpc-go test-short vet fmt-check import-check sim sweep scenarios bench bench-compare clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build ./...

run: build
	$(GO) run ./cmd/metastore $(ARGS)

# A local three-member cluster (clients on 127.0.0.1:2379, :22379, :32379,
# data in ./.cluster/) in the foreground; Ctrl-C stops all three.
cluster: build
	@./scripts/cluster.sh $(ARGS)

# The full test suite CI runs: formatting, vet, the core's import rules, all
# tests, the race detector on the production packages, the simulator sweep,
# and the etcdctl e2e tests on the opt-in lean gRPC server.
test: deps fmt-check vet import-check
	$(GO) test -count=1 -timeout 25m ./...
	$(GO) test -count=1 -race -timeout 20m $(PKGS_RACE)
	$(MAKE) --no-print-directory test-grpc-go

# The etcdctl e2e tests again, every member started with
# --experimental-lean-grpc=false so plaintext clients reach grpc-go's
# server: the fallback (and the server TLS clients use) stays covered end
# to end without TLS (about 20 s).
test-grpc-go:
	METASTORE_E2E_ARGS=--experimental-lean-grpc=false $(GO) test -count=1 -timeout 5m -run 'Etcdctl' ./tests/e2e

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# core/ and sim/ must stay deterministic: no goroutine-, time- or OS-bound
# imports (core/realworld is the one exception: the real clock and disk).
import-check:
	@./scripts/import-check.sh

sim:
	$(GO) test ./sim -run '^TestSim$$' -count=1 -v $(if $(SEED),-seed=$(SEED))

sweep:
	$(GO) test ./sim -run '^TestSweep$$' -count=1 -v -seeds=$(SEEDS)

# The named scenarios (scenarios/) with their controls: one row per scenario
# (name, property, verdict, key figures), written to docs/scenarios.md and
# into README.md's scenario table.
scenarios:
	$(GO) test ./scenarios -run '^TestScenarios$$' -count=1 -table=$(CURDIR)/docs/scenarios.md
	@cat docs/scenarios.md
	@awk 'BEGIN { t = ARGV[1]; ARGV[1] = "" } \
		/<!-- scenarios:begin -->/ { print; while ((getline l < t) > 0) print l; skip = 1; next } \
		/<!-- scenarios:end -->/ { skip = 0 } !skip' docs/scenarios.md README.md > README.md.tmp && mv README.md.tmp README.md

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./core/... ./engines/... ./sim/...

# MetaStore against etcd v3.7.3, same workloads, alternately on fresh data
# directories; tables to stdout and bench-results/. QUICK=1: 1 node, small
# totals, under 5 minutes. LOAD=N: also load N keys into each and put after.
# ARGS passes more flags (go run ./scripts/benchcompare -h lists them).
bench-compare: deps
	$(GO) run ./scripts/benchcompare $(if $(filter-out 0,$(QUICK)),-quick) $(if $(LOAD),-load=$(LOAD)) $(ARGS)

clean:
	rm -rf .peers .cluster *.metastore
