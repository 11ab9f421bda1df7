// The main() of every pvsim benchmark program: Google Benchmark's own
// start and finish around the program's registrations, and an exit status
// that says whether every benchmark ran.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

namespace pvsim::test {

// The display Google Benchmark would choose (--benchmark_format), which
// also notes whether any run ended in State::SkipWithError: the library
// reports such a run and carries on, and its RunSpecifiedBenchmarks() counts
// benchmarks, not failures.
class ErrorNotingReporter final : public benchmark::BenchmarkReporter {
  public:
    explicit ErrorNotingReporter(benchmark::BenchmarkReporter& display) : display_(display) {}

    bool ReportContext(const Context& context) override { return display_.ReportContext(context); }

    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            erred_ |= run.error_occurred;
        }
        display_.ReportRuns(runs);
    }

    void Finalize() override { display_.Finalize(); }

    bool erred() const { return erred_; }

  private:
    benchmark::BenchmarkReporter& display_;
    bool erred_ = false;
};

// `register_benchmarks` registers the program's benchmarks (and owns, by
// capture, whatever they share); it runs once the arguments are known good.
// The program fails if a benchmark reported an error, or if none matched
// --benchmark_filter (a run that measured nothing).
template <typename Register>
int run_benchmarks(int argc, char** argv, Register&& register_benchmarks) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    register_benchmarks();
    // The library's own default display, which it keeps for the program's
    // life.
    ErrorNotingReporter reporter(*benchmark::CreateDefaultDisplayReporter());
    const std::size_t matched = benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return matched == 0 || reporter.erred() ? 1 : 0;
}

}  // namespace pvsim::test
