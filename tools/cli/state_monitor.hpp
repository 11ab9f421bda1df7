// Prints every xenbus state change of every vbd of a run as it happens,
// with the time since the monitor started, for scripts and the demo
// (DESIGN.md §7): one watch on /local/domain, filtered to the `state`
// nodes of device/vbd (frontends) and backend/vbd, backend/qdisk (backends).
//
//   [   0.215s] web xvda backend  InitWait (was Initialising)
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "tools/cli/session.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::cli {

class StateMonitor {
  public:
    // Starts watching at once; throws when xenstored does not answer.
    explicit StateMonitor(const Session& session);
    ~StateMonitor();
    StateMonitor(const StateMonitor&) = delete;
    StateMonitor& operator=(const StateMonitor&) = delete;

    // "[   1.234s] " for lines others print alongside.
    std::string timestamp() const;

  private:
    struct Node {
        std::string who;  // "web xvda frontend"
        std::optional<std::string> value;
    };
    void changed(const std::string& path);
    std::optional<Node> describe(const std::string& path);

    const Session& session_;
    std::chrono::steady_clock::time_point start_;
    xenstore::client::Client xenstore_;
    std::mutex mutex_;
    std::map<std::string, Node> nodes_;
    std::optional<xenstore::client::Watch> watch_;
};

}  // namespace pvsim::tools::cli
