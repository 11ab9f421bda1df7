// The toolstack's side of the hypervisor's control socket
// (hypervisor/protocol/control.hpp): create, destroy, list, info, stats,
// dom0 connections, shutdown.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/os/json_line_client.hpp"
#include "common/os/unique_fd.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor {

// The hypervisor answered "ok": false; what() is its error text.
class ControlError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct CreateDomain {
    std::string name;
    std::uint64_t memory_bytes = 64ull << 20;
    std::filesystem::path program;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::optional<std::string> cpus;  // xl.cfg cpus=, e.g. "0-1"; the hypervisor checks it
};

// What create answers: the new domain and what XS_INTRODUCE needs of it.
struct CreatedDomain {
    xen::DomId domid = 0;
    std::uint64_t store_gfn = 0;
    xen::EvtchnPort store_port = 0;
};

class ControlClient {
  public:
    // Connects to the control socket; throws std::system_error (ENOENT,
    // ECONNREFUSED) when no hypervisor listens there.
    explicit ControlClient(const std::filesystem::path& socket_path);

    CreatedDomain create(const CreateDomain& request);
    // Returns "destroyed" or "dying".
    std::string destroy(xen::DomId domid);
    std::string destroy(const std::string& name);
    // The "domains" array of the reply (DOMAIN objects, control.hpp).
    nlohmann::json list();
    // The "domain" object of the reply.
    nlohmann::json info(xen::DomId domid);
    // The "domains" array of the reply (domid, name, counters).
    nlohmann::json stats();
    // A new dom0 hypercall connection (to pass to Hypervisor::adopt);
    // `xenstored` marks it as the run's xenstored's (protocol/control.hpp).
    os::UniqueFd connect_dom0(bool xenstored = false);
    // The run's xenstored stops in order (protocol/control.hpp).
    void release_xenstored();
    void shutdown();

    // One request, its reply (the whole object, "ok" checked), for ops not
    // wrapped above. Throws ControlError on "ok": false.
    nlohmann::json request(const nlohmann::json& message, std::vector<os::UniqueFd>* fds = nullptr);

  private:
    os::JsonLineClient connection_;
};

}  // namespace pvsim::hypervisor
