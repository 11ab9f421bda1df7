// Prints every xenbus state change of every vbd of a run as it happens,
// with the time since the monitor started, for scripts and the demo
// (DESIGN.md §7): one watch on /local/domain, filtered to the `state`
// nodes of device/vbd (frontends) and backend/vbd, backend/qdisk (backends).
//
//   [   0.215s] web xvda backend  InitWait (was Initialising)
//
// A watch says a node changed, not what was written: the monitor reads the
// value when the event is handled, so a state replaced before that shows as
// the next one's "(was ...)". settle() is what makes the lines complete at
// a step's end: it waits until every event sent before it has been handled
// and then prints, for every device's state node there is, the state the
// events did not show ("read late"), so no state a step left is ever
// missing from the output, and a monitor that fell behind says so. A node
// that is gone before its Closed was read is printed as "gone", saying the
// states before it passed unread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

    // Waits until the events xenstored sent before this call have been
    // handled: a second watch's first event, which xenstored sends behind
    // them on the same connection, marks the point. Then prints every vbd
    // state node whose value no event showed. When the monitor does not
    // catch up within `limit` it prints that its lines may be incomplete.
    void settle(std::chrono::milliseconds limit = std::chrono::seconds(10));

  private:
    struct Node {
        std::string who;  // "web xvda frontend"
        std::optional<std::string> value;
    };
    void changed(const std::string& path);
    // Prints `path`'s `value` if it is not what was printed last (under
    // mutex_); `note` goes after the "(was ...)".
    void show(const std::string& path, const std::optional<std::string>& value,
              const std::string& note);
    std::optional<Node> describe(const std::string& path);
    // Every vbd state node there is now (both ends, both backend types).
    std::vector<std::string> state_nodes();

    const Session& session_;
    std::chrono::steady_clock::time_point start_;
    xenstore::client::Client xenstore_;
    std::mutex mutex_;
    std::map<std::string, Node> nodes_;
    std::optional<xenstore::client::Watch> watch_;
};

}  // namespace pvsim::tools::cli
