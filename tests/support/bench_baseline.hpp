// The physical reference every pvsim benchmark is quoted against
// (docs/performance.md): an eventfd round trip between two processes with
// no pvsim code in it. Machines differ and are noisy; the ratio to this,
// measured in the same run, is what carries over.
#pragma once

#include <benchmark/benchmark.h>

#include "common/os/child_process.hpp"
#include "common/os/event_fd.hpp"

namespace pvsim::test {

inline void eventfd_round_trip_baseline(benchmark::State& state) {
    os::EventFd ping;
    os::EventFd pong;
    os::SpawnOptions options;
    options.fds = {{ping.fd(), 3}, {pong.fd(), 4}};
    auto peer = os::ChildProcess::spawn(PVSIM_TEST_PEER,
                                        {"eventfd-pingpong", "3", "4", "2000000000"}, options);
    for (auto _ : state) {
        ping.signal();
        pong.wait();
    }
    state.counters["send_to_wake"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * 2.0,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace pvsim::test
