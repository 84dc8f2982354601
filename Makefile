# Every target is safe to run on a fresh clone: it builds or installs what it needs.
GO        ?= go
BIN       := bin
TOOLS_BIN := $(shell tools/build.sh --print)
export KFP_CONNECT_TOOLS_BIN ?= $(TOOLS_BIN)

.PHONY: all build test unit lint fuzz tools system-deps suites node-test conformance bench-cluster bench-node bench-login demo clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /suites/)

# Suites run real clusters from the pinned binaries (`make tools` first); they
# fail, not skip, when those are missing.
suites:
	$(GO) test -race -count=1 -timeout 20m ./suites/...

# The four scenarios, every path and fault, on PROVIDER (kwok, kind or
# existing); JUnit and JSON reports in reports/. Part of `make suites`.
PROVIDER ?= kwok
conformance:
	PROVIDER=$(PROVIDER) $(GO) test -race -count=1 -timeout 30m ./suites/conformance

# Median of 5 kwok clusters: create-to-ready, delete, RSS of its processes.
bench-cluster:
	$(GO) run ./hack/bench-cluster -n 5

# The node provider's real one-node cluster (kubelet, containerd, runc; needs
# root): pods of local images, DNS and a ClusterIP Service, a KFP-audience projected
# token, and clean-up after SIGINT/SIGTERM. Also part of `make suites`.
node-test: system-deps tools
	$(GO) test -race -count=1 -timeout 20m ./suites/node

# Median of 5 node clusters: create-to-ready (each step), pod start, delete, RSS.
bench-node: system-deps tools
	$(GO) run ./hack/bench-node -n 5

# The doctor's login through the lab's real Dex, oauth2-proxy and slapd:
# login stages and the whole diagnosis, median of 5 per connector.
bench-login: system-deps tools
	$(GO) run ./hack/bench-login -n 5

# Fuzz each target briefly; FUZZTIME=1m for a longer run.
FUZZTIME ?= 15s
fuzz:
	$(GO) test ./internal/kfp -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/credentials -run '^$$' -fuzz '^FuzzInspectToken$$' -fuzztime $(FUZZTIME)

# The README's test command: lint, unit tests with the race detector, and the suites.
test: system-deps tools lint unit suites

tools:
	tools/build.sh

# Debian packages the lab needs: slapd for its LDAP directory; containerd,
# runc, the CNI plugins, iptables/nftables and conntrack for the node provider.
system-deps:
	hack/system-deps.sh

# A multi-user KFP lab without Docker, the doctor run against it without and
# with a token, then everything removed.
demo: system-deps tools build
	hack/demo.sh

clean:
	rm -rf $(BIN)
