# tokenscan — the two commands a newcomer needs: `make run` and `make test`.
SWIFT ?= swift
BUILD_FLAGS ?= -Xswiftc -warnings-as-errors

.PHONY: deps test-deps build release run test bench-verify bench-pipeline bench-server clean

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

release: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)

## Build and start the demo: receiver + fake vendor, wired together.
run: release
	.build/release/tokenscan dev

## Install what is missing, build without warnings, run every test.
test: test-deps
	scripts/test.sh

bench-verify: release
	bench/verify.sh

bench-pipeline: release
	bench/pipeline.sh

bench-server: release test-deps
	bench/server.sh

clean:
	rm -rf .build
