# Every target is safe to run on a fresh clone: it builds or installs what it needs.
GO        ?= go
# Source paths out of every build and test binary: Go's build cache then
# keys our packages by content, not by where the clone is, so a second
# clone or worktree reuses what the first compiled (a fresh clone's `make
# test` recompiled all of them, with -race).
export GOFLAGS := $(strip -trimpath $(filter-out -trimpath,$(GOFLAGS)))
BIN       := bin
TOOLS_BIN := $(shell tools/build.sh --print)
export KFP_CONNECT_TOOLS_BIN ?= $(TOOLS_BIN)

.PHONY: all build images wheels test unit lint fuzz tools tools-lab tools-node system-deps system-deps-lab suites suites-race suites-procs node-test conformance conformance-node \
	bench bench-doctor bench-cluster bench-cluster-kwok bench-node bench-login bench-scale bench-sdk bench-matrix bench-explain bench-sandbox bench-mesh demo clean

all: build

# The version both binaries print (`kfp-doctor version`); a build without it
# (go install …@latest) falls back to the module version and VCS commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Both binaries: bin/kfp-doctor (the diagnosis) and bin/kfp-connect (the lab),
# static and path-free as releases build them (.goreleaser.yaml), so what is
# measured is what users run: a static kfp-doctor also starts about a
# millisecond sooner than one the dynamic loader has to link.
BUILD_CMDS ?= ./cmd/...
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ $(BUILD_CMDS)

# The doctor's image, built offline (no Docker, no registry): the static
# kfp-doctor on an empty base, a docker archive tagged
# ghcr.io/kfp-connect/kfp-doctor:$(VERSION) and :latest. Load it with
# `kind load image-archive bin/images/kfp-doctor.tar` (deploy/doctor).
IMAGES_DIR ?= $(BIN)/images
images: build
	$(BIN)/kfp-connect images --dir $(IMAGES_DIR) --version $(VERSION)

# The kfp-doctor Python wheels (pip install kfp-doctor), built offline in
# bin/wheels: one per platform of the release (linux and darwin, amd64 and
# arm64), each carrying the static binary as ruff and uv carry theirs.
# DIST=dist takes a release's binaries (goreleaser's dist/artifacts.json, as
# .github/workflows/release.yml does); without it they are cross-built here
# with the release's flags.
WHEELS_DIR      ?= $(BIN)/wheels
WHEEL_PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64
wheels:
	$(GO) run ./hack/pywheel --version $(VERSION) --out $(WHEELS_DIR) $(if $(DIST),--dist $(DIST),--build $(WHEEL_PLATFORMS))

# actionlint checks every workflow under .github/workflows, and action.yml
# through the ci workflow's job that uses it (`uses: ./`). None of them can
# run here; this is what stands in for running them. Pinned, fetched from the
# Go module proxy on first use.
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(ACTIONLINT)

# Unit tests, all with the race detector (the image archives' tests, once
# kept out of it for their gzip — 492 s under it —, write plain layers now:
# internal/images 9 s, internal/programs' image tests 19 s).
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /suites/)

# Suites run real clusters from the pinned binaries (`make tools` first); they
# fail, not skip, when those are missing. The race detector runs wherever our
# code's goroutines do the work (unit tests, kwok clusters, the lab); the node
# suite and the matrix on the node run without it: their time goes to
# waiting on processes (kubelet, containerd, image imports), which the
# detector slows severalfold and cannot look into, while the same code paths
# run under it on kwok.
# suites/command's containers share nothing (each brings up labs of its
# own, named by process), so like the conformance matrix it runs them side by
# side in Ginkgo processes, beside the other suites.
SUITES_PROCS = ./suites/command
SUITES_RACE = $(filter-out ./suites/node ./suites/conformance $(SUITES_PROCS),$(patsubst %/,./%,$(sort $(dir $(wildcard suites/*/*_test.go)))))
# The node suite waits on a real kubelet most of its time (a third of a
# core): it takes the slot suites-race frees, beside suites/command.
suites: system-deps tools
	$(MAKE) --no-print-directory -j2 suites-procs suites-race node-test
	$(MAKE) --no-print-directory conformance PROVIDER=kwok

suites-race:
	$(GO) test -race -count=1 -timeout 40m $(SUITES_RACE)

suites-procs:
	$(GINKGO) --procs=2 -race $(if $(NO_COLOR),--no-color) --timeout=40m $(SUITES_PROCS)

# The four scenarios, every path and fault, on PROVIDER (kwok, node — real
# pods, root —, kind or existing); JUnit and JSON reports in reports/. Part of `make suites`.
# LABELS is a Ginkgo label filter, e.g. LABELS='multi-user && fault'.
# The scenarios share nothing — each makes a cluster of its own — so they
# run side by side, a Ginkgo process each (PROCS); most of a case's time is
# waiting on servers and clusters, not the CPU. On node three: the
# multi-user in-cluster scenario (a doctor pod and a notebook pod per case)
# sets the pace alone while the other three share two processes (226-261 s
# against 292 s in two, the CPU half used either way); a fourth cluster,
# dealing that scenario's cases over two, made every pod start slower
# (281 s). An existing cluster is one install the cases change in turn:
# one process.
PROVIDER ?= kwok
LABELS   ?=
PROCS    ?= $(if $(filter existing,$(PROVIDER)),1,$(if $(filter node,$(PROVIDER)),3,$(if $(filter kind,$(PROVIDER)),2,4)))
RACE = $(if $(filter node,$(PROVIDER)),,-race)
GINKGO := $(GO) run github.com/onsi/ginkgo/v2/ginkgo
conformance:
	PROVIDER=$(PROVIDER) $(GINKGO) --procs=$(PROCS) $(RACE) $(if $(NO_COLOR),--no-color) --timeout=30m $(if $(LABELS),--label-filter='$(LABELS)') ./suites/conformance

# Median of 5 clusters of each Docker-free provider: kwok (create-to-ready,
# delete, RSS of its processes), then node (each step, pod start, delete, RSS;
# needs root: skipped with the reason where the kernel refuses namespaces).
bench-cluster: bench-cluster-kwok bench-node

bench-cluster-kwok: system-deps-lab tools-lab
	$(GO) run ./hack/bench-cluster -n 5

# The node provider's real one-node cluster (kubelet, containerd, runc; needs
# root): pods of local images, DNS and a ClusterIP Service, a KFP-audience projected
# token, and clean-up after SIGINT/SIGTERM. Also part of `make suites`.
node-test: system-deps tools
	$(GO) test -count=1 -timeout 20m ./suites/node

# Median of 5 node clusters: create-to-ready (each step), pod start, delete, RSS.
bench-node: system-deps tools
	$(GO) run ./hack/bench-node -n 5

# The doctor's login through the lab's real Dex, oauth2-proxy and slapd:
# login stages and the whole diagnosis, median of 5 per connector.
bench-login: system-deps-lab tools-lab
	$(GO) run ./hack/bench-login -n 5

# The real KFP SDK's time to its verdict next to the doctor's, per outside
# path of the multi-user lab, healthy and failing (median of 5). Needs the SDK
# (../shared/upstream/kfp-sdk-2.17.0 and Debian's packages: system-deps'
# python set); a verdict the two disagree on fails it.
bench-sdk: system-deps-lab tools-lab
	hack/system-deps.sh python
	$(GO) run ./hack/bench-sdk -n 5

# The doctor against 10 and then 1,000 profile namespaces: wall time and
# Kubernetes API requests per run (they must not grow with the profiles).
bench-scale: system-deps-lab tools-lab
	$(GO) run ./hack/bench-scale -n 5

# What the mesh's policy layer adds to a request (the inbound sidecar with
# the fixtures' policies, against the program directly): median of 1,000.
bench-mesh:
	$(GO) run ./hack/bench-mesh -n 1000

# What a kfp-doctor user waits for, against the real SDK in the same run:
# start-up, a healthy and a failing diagnosis on the lab, an endpoint that
# never answers (hack/bench-doctor).
bench-doctor: system-deps-lab tools-lab build
	$(GO) run ./hack/bench-doctor -n 21 -doctor $(BIN)/kfp-doctor

# A lab pod's process: its sandbox made, the program serving, stopped
# (internal/lab/sandbox; skipped where the kernel refuses namespaces).
bench-sandbox:
	$(GO) test ./internal/lab/sandbox -count=1 -run '^$$' -bench '^BenchmarkStartToServing$$' -benchtime 20x

# The conformance matrix's wall time per provider; MATRIX_FROM=reports reads
# the reports a `make test` of the same run left instead of running it again.
MATRIX_FROM ?=
bench-matrix: system-deps tools
	$(GO) run ./hack/bench-matrix -providers kwok,node $(if $(MATRIX_FROM),-from $(MATRIX_FROM))

# Every benchmark, then ONE table of every figure beside its target
# (hack/bench.sh, hack/bench-table); reports/bench/table.md is the same table
# for CI's step summary. Each benchmark prints its figures as lines
# `BENCH {json}` (internal/benchline): a new one joins the table by
# printing those and adding its target here.
BENCHES ?= bench-doctor bench-cluster-kwok bench-node bench-login bench-scale bench-sdk bench-matrix bench-explain bench-sandbox bench-mesh
BENCH_DIR ?= reports/bench
bench: system-deps tools build
	MAKE="$(MAKE)" hack/bench.sh $(BENCH_DIR) $(BENCHES)

# Fuzz each target briefly; FUZZTIME=1m for a longer run.
FUZZTIME ?= 15s
fuzz:
	$(GO) test ./internal/kfp -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/credentials -run '^$$' -fuzz '^FuzzInspectToken$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/redact -run '^$$' -fuzz '^FuzzRedact$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/explain -run '^$$' -fuzz '^FuzzExplain$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/doctor -run '^$$' -fuzz '^FuzzKubeconfigRedaction$$' -fuzztime $(FUZZTIME)

# kfp-doctor explain scored on its corpus (internal/kfd/texts.txtar: errors
# users pasted into public trackers and replies a real KFP server sent, each
# with the id a maintainer settled on): the share with the right id first,
# the wrong claims, the texts that are no KFP failure; then the time per text.
bench-explain:
	$(GO) test ./internal/explain -count=1 -run '^TestCorpusScore$$' -v | grep -v '^=== RUN'
	$(GO) test ./internal/explain -count=1 -run '^$$' -bench '^BenchmarkExplainCorpus$$' -benchmem

# The whole matrix again on the node provider: real pods, real DNS and
# kube-proxy, in-cluster cases as Pods of the doctor's image. Needs root;
# skipped with the reason where the kernel refuses namespaces. No race
# detector (see suites).
conformance-node: system-deps tools
	$(MAKE) --no-print-directory conformance PROVIDER=node

# The README's test command: lint, unit tests with the race detector, the
# suites (conformance on kwok among them), and conformance on the node.
test: system-deps tools lint unit suites conformance-node

# The pinned programs (tools/build.sh): tools-lab what the lab and kwok run,
# in the order the demo needs them; tools-node what the node provider adds
# (kubelet, kube-proxy, CoreDNS); tools both (CI).
tools:
	tools/build.sh all

tools-lab:
	tools/build.sh lab

tools-node:
	tools/build.sh node

# Debian packages: slapd for the lab's LDAP directory (system-deps-lab);
# containerd, runc, the CNI plugins, iptables/nftables and conntrack for the
# node provider, python3 with venv and the real KFP SDK's dependencies for the
# kfp-doctor wheel's tests and the SDK's runs (system-deps: all of them).
system-deps:
	hack/system-deps.sh all

system-deps-lab:
	hack/system-deps.sh lab

# A multi-user KFP lab without Docker, the doctor run against it without and
# with a token, then everything removed. Builds only what the lab runs: first
# the tools (the long part, with progress and the time left), then the two
# binaries it runs (not kfp-standin, which only images carry).
demo: system-deps-lab tools-lab
	$(MAKE) --no-print-directory build BUILD_CMDS="./cmd/kfp-doctor ./cmd/kfp-connect"
	hack/demo.sh

clean:
	rm -rf $(BIN)
