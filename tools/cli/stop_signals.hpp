// SIGINT and SIGTERM taken out of asynchronous delivery for a foreground
// command that serves until told to stop (`pvsim export`): blocked in the
// calling thread from construction, so every thread it starts afterwards
// inherits the mask and none of them is interrupted, and waited for with
// sigwaitinfo(2) at one place. On destruction, a stop signal still pending
// is consumed and the previous mask comes back.
// Construct it before starting any thread.
#pragma once

#include <signal.h>

namespace pvsim::tools::cli {

class StopSignals {
  public:
    StopSignals();
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // Blocks until SIGINT or SIGTERM arrives; returns which.
    int wait() const;

  private:
    sigset_t stop_set_{};
    sigset_t previous_{};
};

}  // namespace pvsim::tools::cli
