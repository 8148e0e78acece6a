# edgegate: see README.md. `make demo` to try it, `make test` to test it.

GO        ?= go
BIN       := bin
GOFLAGS_BUILD := -trimpath -buildvcs=false
TARGET    ?= amd64
# Packages `make test` installs when missing (Debian; needs root, as in CI).
TEST_DEBS := qemu-system-x86 qemu-system-arm qemu-user ovmf systemd-boot-efi mtools dosfstools squashfs-tools e2fsprogs fdisk chromium
TEST_TIMEOUT ?= 45m
# h2spec, the HTTP/2 conformance tester, run against the TLS listener.
H2SPEC_VERSION := v2.2.1+incompatible
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin

# The gateway's own tests again for arm64 (Raspberry Pi), under qemu-user, so
# an ARM-only bug cannot hide. Tests that exec a freshly built binary (it
# would be arm64, and this machine has no binfmt handler) run natively only.
ARM64_PKGS := ./gateway/... ./persist/... ./provisioning/...
ARM64_NATIVE_ONLY := TestConformanceBinary|TestCrashKillLoop|TestDiskFullFileSizeLimit

.PHONY: all build demo test test-deps test-arm64 lint bench image clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/edgegate ./cmd/cloudgate ./cmd/edgegate-echo

demo: build
	./scripts/demo.sh

# test-deps installs what the tests drive for real (qemu, OVMF, image tools,
# Chromium). It only calls apt-get for what is missing.
test-deps:
	./scripts/install-deps.sh $(TEST_DEBS)
	@test -x $(GOBIN_DIR)/h2spec || $(GO) install github.com/summerwind/h2spec/cmd/h2spec@$(H2SPEC_VERSION)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: test-deps lint
	EDGEGATE_SCREENSHOTS=$(CURDIR)/build/screenshots $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	PATH="$(GOBIN_DIR):$$PATH" $(GO) test -tags h2spec -run H2Spec -count=1 ./gateway/
	$(MAKE) test-arm64

test-arm64:
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m -exec qemu-aarch64 -skip '$(ARM64_NATIVE_ONLY)' $(ARM64_PKGS)

# make bench BENCH_FLAGS=-quick for a one-round smoke run.
bench: build
	$(GO) run ./bench/cmd/edgebench -edgegate $(BIN)/edgegate $(BENCH_FLAGS)

image:
	$(GO) run ./images/cmd/mkimage -target $(TARGET) -out build

clean:
	rm -rf $(BIN) build
