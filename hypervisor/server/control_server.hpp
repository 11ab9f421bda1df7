// The control socket (hypervisor/protocol/control.hpp): a unix stream
// socket, mode 0600, newline-delimited JSON, several clients at once, one
// request at a time per client. Parses and checks requests, then asks its
// ControlBackend (the Hypervisor) to act; replies go out without blocking
// the loop, and destroy answers when the domain is gone, while everyone
// else is served.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <boost/asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>
#include "common/os/session_acceptor.hpp"

#include "common/os/unique_fd.hpp"
#include "hypervisor/server/control_requests.hpp"

namespace pvsim::hypervisor::server {

// What the control ops do. Methods throw ControlRequestError (or any
// std::exception) to refuse; the message becomes the reply's "error".
class ControlBackend {
  public:
    // A reply body without "ok" (added by the server), or an error.
    using Done = std::function<void(nlohmann::json result, std::string error)>;

    virtual ~ControlBackend() = default;
    virtual nlohmann::json create(const CreateRequest& request) = 0;
    // Calls `done` once the domain is gone (possibly before returning).
    virtual void destroy(const DomainSelector& selector, Done done) = 0;
    virtual nlohmann::json list() = 0;
    virtual nlohmann::json info(const DomainSelector& selector) = 0;
    virtual nlohmann::json stats() = 0;
    // A new dom0 hypercall connection; the returned end goes to the client.
    // `xenstored`: the client is the run's xenstored, whose connection
    // ending takes the host down (DESIGN.md §1, "The host").
    virtual os::UniqueFd connect(bool xenstored) = 0;
    // The run's xenstored is stopping in order: its connection's end is no
    // longer the host's death.
    virtual void release_xenstored() = 0;
    // Called once the reply to "shutdown" has been sent.
    virtual void shutdown() = 0;
};

class ControlServer {
  public:
    // Binds and listens at `socket_path` (which must not exist).
    ControlServer(boost::asio::io_context& io, const std::filesystem::path& socket_path,
                  ControlBackend& backend);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Stops accepting and closes every client connection.
    void close();

  private:
    class Session;

    ControlBackend& backend_;
    os::SessionAcceptor<Session> sessions_;
};

}  // namespace pvsim::hypervisor::server
