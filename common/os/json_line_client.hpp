// The blocking client end of pvsim's JSON-lines sockets: the hypervisor's
// control socket (hypervisor/protocol/control.hpp) and a guest's agent
// socket (frontend/guest/agent_protocol.hpp) both carry one JSON object per
// line each way. Written on plain sockets rather than Asio because its users
// (the CLI, tests) make one request and wait for its reply, and the control
// socket's replies can carry fds (SCM_RIGHTS), which Asio does not read.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/os/unique_fd.hpp"

namespace pvsim::os {

class JsonLineClient {
  public:
    // Connects to `socket_path`; throws std::system_error (ENOENT,
    // ECONNREFUSED, ...) naming it when nothing listens there. `peer` names
    // the other end in errors ("pvsim-hypervisor"); a request longer than
    // `max_request` bytes (what the peer accepts) is refused, and so is a
    // reply longer than `max_reply` (a bound on a broken peer, not on any
    // reply a valid request can get).
    JsonLineClient(const std::filesystem::path& socket_path, std::string peer,
                   std::size_t max_request, std::size_t max_reply);

    void send(const nlohmann::json& message);
    // The next line, which must be a JSON object; fds that arrived with its
    // bytes are appended to `fds` when given (closed otherwise). Throws
    // std::system_error(ECONNRESET) when the peer closed the connection and
    // std::runtime_error for a line that is too long or not an object.
    nlohmann::json receive(std::vector<UniqueFd>* fds = nullptr);

    int fd() const noexcept { return socket_.get(); }
    const std::string& peer() const noexcept { return peer_; }

  private:
    UniqueFd socket_;
    std::string peer_;
    std::size_t max_request_;
    std::size_t max_reply_;
    std::string buffer_;  // bytes received past the last line
};

// The "error" text of a reply with "ok": false, or empty for "ok": true.
// Throws std::runtime_error for a reply without a boolean "ok".
std::string reply_error(const nlohmann::json& reply, const std::string& peer);

}  // namespace pvsim::os
