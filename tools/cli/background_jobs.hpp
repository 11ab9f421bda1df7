// A script's `background COMMAND...` and `wait`: commands that run on a
// thread of their own, each with a session of its own, while the script
// goes on (e.g. a workload while the script detaches its disk).
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tools/cli/command.hpp"

namespace pvsim::tools::cli {

class BackgroundJobs {
  public:
    BackgroundJobs() = default;
    // Waits for every job still running (their failures are dropped: the
    // script failed already if this runs before wait()).
    ~BackgroundJobs();
    BackgroundJobs(const BackgroundJobs&) = delete;
    BackgroundJobs& operator=(const BackgroundJobs&) = delete;

    void start(Command command, std::unique_ptr<Session> session);
    // Waits for every job started so far; throws CommandError naming each
    // one that failed and why.
    void wait();

  private:
    struct Job {
        std::string text;
        std::thread thread;
        std::string error;  // set by the thread before it ends
    };
    std::mutex mutex_;
    std::vector<std::unique_ptr<Job>> jobs_;
};

}  // namespace pvsim::tools::cli
