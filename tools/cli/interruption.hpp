// Ctrl-C (SIGINT) and SIGTERM for the commands that hold work and a run of
// their own (bench, script, demo) or a job whose results are worth printing
// (io): what fio does on SIGINT, stop the jobs and print what they did so
// far, plus what only pvsim has to do, tear down the run it started. Exit
// status 128 + the signal (130 for Ctrl-C), as a shell reports a command
// killed by it.
//
// The signals are taken out of asynchronous delivery (StopSignals: blocked
// before any thread starts, so every thread inherits the mask and no
// blocking call is interrupted half way) and waited for by a thread of
// this object's own. When one arrives it marks the interruption and runs
// the cancel action registered for what blocks now (on_stop): for an io,
// the guest agent's cancel-io, after which the job's reply comes back with
// its partial results. The command looks at requested() between its steps.
// Programs the command spawns start with every signal unblocked
// (os::ChildProcess).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tools/cli/stop_signals.hpp"

namespace pvsim::tools::cli {

// What a command throws between its steps once interrupted.
class Interrupted : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Interruption {
  public:
    // Construct it before starting any thread.
    Interruption();
    ~Interruption();
    Interruption(const Interruption&) = delete;
    Interruption& operator=(const Interruption&) = delete;

    // Whether SIGINT or SIGTERM has arrived.
    bool requested() const noexcept { return signal_.load() != 0; }
    // 128 + the signal (130 for SIGINT); 0 before one arrived.
    int exit_status() const noexcept;
    // "SIGINT" / "SIGTERM".
    const char* signal_name() const noexcept;
    // Throws Interrupted ("interrupted by SIGINT") once a signal came.
    void throw_if_requested() const;
    // Sleeps for `duration` or until a signal comes; returns whether one
    // did (a script's `sleep`).
    bool sleep_for(std::chrono::nanoseconds duration);

    // While the returned handle lives, a stop signal runs `cancel` on the
    // waiting thread; if one has come already, `cancel` runs now, here.
    // Several may be registered at once (a script's background jobs).
    [[nodiscard]] std::shared_ptr<void> on_stop(std::function<void()> cancel);

  private:
    void watch();

    StopSignals signals_;
    std::atomic<int> signal_{0};
    std::atomic<bool> closing_{false};
    std::mutex mutex_;
    std::condition_variable arrived_;                         // a signal came; under mutex_
    std::map<std::uint64_t, std::function<void()>> cancels_;  // under mutex_
    std::uint64_t next_cancel_ = 0;                           // under mutex_
    std::thread watcher_;
};

}  // namespace pvsim::tools::cli
