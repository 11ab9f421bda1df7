// What the hypervisor's basic operations cost, across real processes:
//   - a hypercall round trip (domain_info: the cheapest call there is);
//   - a batch of 32 grant maps then 32 unmaps, what one blkif request with
//     32 segments costs without persistent grants: done in the mapping
//     process against the tables the hypervisor shares (DESIGN.md §3, "Where
//     a grant map runs"), so no hypercall once the first map of the guest
//     asked for its tables (counted, not assumed: hypercalls/op);
//   - an event channel round trip to a guest that echoes it (send to wake is
//     half of it), once bound: straight from eventfd to eventfd;
//   - and the physical floor under the last one: an eventfd round trip
//     between two processes with no pvsim code at all.
// Ratios between these are what to quote (docs/performance.md), since they
// come from one run on one machine.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/bench_baseline.hpp"
#include "tests/support/bench_main.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace {

using pvsim::hypervisor::GrantMapRequest;
using pvsim::hypervisor::Hypervisor;
using pvsim::test::HypervisorProcess;
using pvsim::test::TestGuest;
namespace xen = pvsim::xen;

// One hypervisor, one guest and one dom0 connection for every benchmark.
// Google Benchmark calls each function several times (to size the
// iteration count), so what the guest must set up is made once here: the 32
// grants now, the echoing channel on first use (after that the guest does
// nothing but echo).
struct Environment {
    HypervisorProcess hv{{"--log-level", "warn"}};
    TestGuest guest{hv, "bench-guest", 64ull << 20};
    Hypervisor dom0 = hv.connect_dom0();
    std::vector<GrantMapRequest> grants = grant_pages(32);
    std::optional<pvsim::hypervisor::EventChannel> echo;

    std::vector<GrantMapRequest> grant_pages(int count) {
        std::vector<GrantMapRequest> batch;
        for (int i = 0; i < count; ++i) {
            const auto gfn = guest.ok_number("alloc-page");
            const auto ref = guest.ok_number("grant 0 " + std::to_string(gfn) + " rw");
            batch.push_back({guest.domid(), static_cast<xen::GrantRef>(ref), false});
        }
        return batch;
    }

    pvsim::hypervisor::EventChannel& echo_channel() {
        if (!echo) {
            const auto port = guest.ok_number("alloc-unbound 0");
            echo = dom0.bind_interdomain(guest.domid(), static_cast<xen::EvtchnPort>(port));
            echo->poll();  // the bind-time event
            guest.send("echo " + std::to_string(port) + " 0");
            echo->notify();  // the first send goes through the hypervisor
            echo->wait();
        }
        return *echo;
    }
};

void hypercall_round_trip(benchmark::State& state, Environment& env) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(env.dom0.domain_info());
    }
    state.counters["hypercalls/op"] = 1;
}

// Every hypercall dom0 has made, as the hypervisor counts them.
double dom0_hypercalls(Environment& env) {
    for (const auto& domain : env.hv.control().stats()) {
        if (domain.at("domid") == 0) {
            double total = 0;
            for (const auto& [name, count] : domain.at("counters").at("hypercalls").items()) {
                total += count.get<double>();
            }
            return total;
        }
    }
    return 0;
}

void grant_map_unmap_32(benchmark::State& state, Environment& env) {
    const auto& batch = env.grants;
    std::vector<xen::GrantHandle> handles(batch.size());
    const double hypercalls_before = dom0_hypercalls(env);
    for (auto _ : state) {
        const auto mapped = env.dom0.map_grant_refs(batch);
        for (std::size_t i = 0; i < mapped.size(); ++i) {
            if (mapped[i].status != xen::GntSt::okay) {
                state.SkipWithError("a grant map failed");
                return;
            }
            handles[i] = mapped[i].handle;
        }
        env.dom0.unmap_grant_refs(handles);
    }
    state.counters["grants/s"] = benchmark::Counter(32.0 * static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate);
    // The stats call itself is a control request, not a hypercall.
    state.counters["hypercalls/op"] = (dom0_hypercalls(env) - hypercalls_before) /
                                      static_cast<double>(std::max<std::int64_t>(
                                          1, static_cast<std::int64_t>(state.iterations())));
}

void event_round_trip(benchmark::State& state, Environment& env) {
    auto& channel = env.echo_channel();
    for (auto _ : state) {
        channel.notify();
        channel.wait();
    }
    state.counters["send_to_wake"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * 2.0,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["events/op"] = 2;
}

}  // namespace

int main(int argc, char** argv) {
    // Made once the arguments are known good; lives as long as the
    // benchmarks that use it.
    std::unique_ptr<Environment> env;
    return pvsim::test::run_benchmarks(argc, argv, [&] {
        env = std::make_unique<Environment>();
        benchmark::RegisterBenchmark("hypercall_round_trip", hypercall_round_trip, std::ref(*env))
            ->UseRealTime();
        benchmark::RegisterBenchmark("grant_map_unmap_batch32", grant_map_unmap_32, std::ref(*env))
            ->UseRealTime();
        benchmark::RegisterBenchmark("event_channel_round_trip", event_round_trip, std::ref(*env))
            ->UseRealTime();
        benchmark::RegisterBenchmark("eventfd_round_trip_baseline",
                                     pvsim::test::eventfd_round_trip_baseline)
            ->UseRealTime();
    });
}
