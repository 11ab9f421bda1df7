# pvsim — the two commands people need are `make test` and `make demo`.
#   make deps     install what is missing from Debian (scripts/install-deps.sh)
#   make test     Debug build with ASan+UBSan, warnings as errors, then ctest
#   make stress   the test build's long runs: 500 back-to-back vbd re-attaches
#   make build    optimised build (build/release) for running and benchmarks
#   make demo     the whole tour: `pvsim demo` from the optimised build
#   make format   clang-format every source in place

JOBS ?= $(shell nproc)
TEST_DIR := build/test
RELEASE_DIR := build/release

.PHONY: all deps test stress build demo format clean

all: build

deps:
	@scripts/install-deps.sh

test: deps
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	      -DPVSIM_SANITIZE=ON -DPVSIM_WERROR=ON
	cmake --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS)

# The re-attach test of `make test` with 500 cycles instead of 50.
stress: deps
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	      -DPVSIM_SANITIZE=ON -DPVSIM_WERROR=ON
	cmake --build $(TEST_DIR) -j $(JOBS) --target pvsim_integration_guest
	PVSIM_REATTACH_CYCLES=500 $(TEST_DIR)/tests/pvsim_integration_guest \
	    --gtest_filter='ReattachStressTest.*'

build: deps
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(RELEASE_DIR) -j $(JOBS)

demo: build
	$(RELEASE_DIR)/bin/pvsim demo

format:
	git ls-files -co --exclude-standard -- '*.hpp' '*.cpp' '*.h' '*.c' | \
	    grep -v '^build/' | xargs -r clang-format -i --style=file

clean:
	rm -rf build
