// The CLI's end of a guest's agent socket (frontend/guest/agent_protocol.hpp):
// what the toolstack asks a running guest, the way a real toolstack would
// ask a guest agent: is it up, which disks does it see, run this workload.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/os/json_line_client.hpp"
#include "common/run_dir.hpp"
#include "common/xen/grant_table.hpp"

namespace pvsim::tools::toolstack {

class GuestAgent {
  public:
    // Connects to the agent of `domid`, retrying until `timeout` (a guest
    // just created may not listen yet). Throws std::runtime_error naming
    // the domain when it does not answer.
    GuestAgent(const RunDir& run, xen::DomId domid,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // One request and its reply; throws std::runtime_error with the agent's
    // error text on "ok": false.
    nlohmann::json request(const nlohmann::json& message);

    // Sends `message` and passes every {"progress":...} line to
    // `on_progress` until the final reply, which is returned whether "ok"
    // or not (a failed job still carries its result).
    nlohmann::json stream(const nlohmann::json& message,
                          const std::function<void(const nlohmann::json&)>& on_progress);

  private:
    os::JsonLineClient connection_;
};

}  // namespace pvsim::tools::toolstack
