// What a xenstore operation costs, across real processes (DESIGN.md §4):
// reads and writes of one node by dom0 over pvsim-xenstored's unix socket,
// and by a guest over its ring page and event channel (timed inside the
// guest, in batches, so the test's command channel is not measured). The
// eventfd round trip is the physical reference (docs/performance.md).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "tests/support/bench_baseline.hpp"
#include "tests/support/bench_main.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/xenstored_process.hpp"
#include "xenstore/client/client.hpp"

namespace {

using pvsim::test::HypervisorProcess;
using pvsim::test::TestGuest;
using pvsim::test::XenstoredProcess;
using pvsim::xenstore::client::Client;

constexpr unsigned kRingBatch = 256;  // guest operations per benchmark iteration

struct Environment {
    HypervisorProcess hv{{"--log-level", "warn"}};
    XenstoredProcess xenstored{hv, {"--log-level", "warn"}};
    Client dom0 = Client::connect(xenstored.socket_path());
    TestGuest guest{hv, "bench-guest"};

    Environment() {
        const auto info = hv.control().info(guest.domid());
        const std::string home = "/local/domain/" + std::to_string(guest.domid());
        dom0.mkdir(home);
        dom0.set_perms(home, {{pvsim::xen::xs::Access::both, guest.domid()}});
        dom0.write(home + "/bench", "value");
        dom0.write("/bench", "value");
        dom0.introduce(guest.domid(), info.at("store_gfn").get<std::uint64_t>(),
                       info.at("store_port").get<pvsim::xen::EvtchnPort>());
        guest.ok("xs-connect");
    }
};

void socket_read(benchmark::State& state, Environment& env) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(env.dom0.read("/bench"));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void socket_write(benchmark::State& state, Environment& env) {
    for (auto _ : state) {
        env.dom0.write("/bench", "value");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// One iteration is kRingBatch operations in the guest; the time is the
// guest's own measurement.
void ring(benchmark::State& state, Environment& env, const std::string& kind) {
    const std::string command = "xs-bench " + kind + " " + std::to_string(kRingBatch) + " bench";
    for (auto _ : state) {
        const double nanoseconds = static_cast<double>(env.guest.ok_number(command));
        state.SetIterationTime(nanoseconds / 1e9);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRingBatch));
    state.counters["per_op"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * kRingBatch,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

int main(int argc, char** argv) {
    // Made once the arguments are known good; lives as long as the
    // benchmarks that use it.
    std::unique_ptr<Environment> env;
    return pvsim::test::run_benchmarks(argc, argv, [&] {
        env = std::make_unique<Environment>();
        benchmark::RegisterBenchmark("xenstore_socket_read", socket_read, std::ref(*env))
            ->UseRealTime();
        benchmark::RegisterBenchmark("xenstore_socket_write", socket_write, std::ref(*env))
            ->UseRealTime();
        benchmark::RegisterBenchmark("xenstore_ring_read", ring, std::ref(*env),
                                     std::string("read"))
            ->UseManualTime();
        benchmark::RegisterBenchmark("xenstore_ring_write", ring, std::ref(*env),
                                     std::string("write"))
            ->UseManualTime();
        benchmark::RegisterBenchmark("eventfd_round_trip_baseline",
                                     pvsim::test::eventfd_round_trip_baseline)
            ->UseRealTime();
    });
}
