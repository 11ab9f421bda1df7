// The main() of every pvsim benchmark program: Google Benchmark's own
// start and finish around the program's registrations.
#pragma once

#include <benchmark/benchmark.h>

namespace pvsim::test {

// `register_benchmarks` registers the program's benchmarks (and owns, by
// capture, whatever they share); it runs once the arguments are known good.
template <typename Register>
int run_benchmarks(int argc, char** argv, Register&& register_benchmarks) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    register_benchmarks();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace pvsim::test
