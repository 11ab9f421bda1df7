// A benchmark program for the test of bench_main.hpp itself
// (bench.main.*): one benchmark that runs and one that reports an error, as
// a pvsim benchmark does when what it measures stops working.
#include <benchmark/benchmark.h>

#include "bench_main.hpp"

namespace {

void runs(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(state.iterations());
    }
}

void errs(benchmark::State& state) {
    for (auto _ : state) {
        state.SkipWithError("what this benchmark measures no longer works");
        return;
    }
}

}  // namespace

int main(int argc, char** argv) {
    return pvsim::test::run_benchmarks(argc, argv, [] {
        benchmark::RegisterBenchmark("runs", runs);
        benchmark::RegisterBenchmark("errs", errs);
    });
}
