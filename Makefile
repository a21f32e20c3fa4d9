# veil: the two commands that matter are `make demo` and `make test` (see README.md).
BUILD_DIR ?= build

.PHONY: all deps build demo test unit integration bench bench-microvm bench-cri asan fuzz format clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@BUILD_DIR=$(BUILD_DIR) ./scripts/build.sh

# Only what the demo runs (the runtime and the guard), not the test binaries.
demo: deps
	@BUILD_DIR=$(BUILD_DIR) ./scripts/build.sh veil veil-guard
	@./scripts/demo.sh $(BUILD_DIR)/veil

test: build
	@./scripts/run-tests.sh $(BUILD_DIR)

unit: build
	@cd $(BUILD_DIR) && ctest -L unit --output-on-failure

integration: build
	@cd $(BUILD_DIR) && ctest -L integration --output-on-failure

bench: build
	@./bench/runtime/run.sh $(BUILD_DIR)/veil

# The microvm handler: clone vs cold boot vs QEMU alone, exec, memory per sandbox.
bench-microvm: build
	@./bench/microvm/run.sh $(BUILD_DIR)

bench-cri: build
	@./bench/cri/run.sh $(BUILD_DIR)

asan: deps
	@BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_ARGS=-DVEIL_SANITIZE=ON ./scripts/build.sh veil veil_unit_tests
	@cd build-asan && ctest -L unit --output-on-failure

# Every fuzz target for FUZZ_SECONDS (default 60) each; `make test` runs them for 10 s each.
fuzz: deps
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-60} ./fuzz/run.sh

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz
