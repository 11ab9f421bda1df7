// The guest agent's socket (agent_protocol.hpp): a unix stream socket, mode
// 0600, newline-delimited JSON, several clients at once, one request at a
// time per client, all on one Boost.Asio io_context thread. Requests that
// block (wait-device, close, io) run on threads of their own and post their
// reply back to the loop; io's progress lines come the same way. A client
// that goes away while its io runs has the run cancelled
// (RunControl::cancel).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/os/session_acceptor.hpp"
#include "common/xen/grant_table.hpp"
#include "frontend/guest/guest_devices.hpp"
#include "frontend/guest/worker_threads.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::guest {

class AgentServer {
  public:
    // Binds and listens at `socket_path` (which must not exist). `memory`
    // (the guest's own, for I/O buffers) and `devices` (every class's)
    // must outlive the server.
    AgentServer(boost::asio::io_context& io, const std::filesystem::path& socket_path,
                xen::DomId domid, hypervisor::DomainMemory& memory, GuestDevices& devices);
    // close(), join().
    ~AgentServer();
    AgentServer(const AgentServer&) = delete;
    AgentServer& operator=(const AgentServer&) = delete;

    // Stops accepting, cancels every run, closes every connection and
    // removes the socket file. On the loop's thread. Idempotent.
    void close();
    // Waits for the threads of blocking requests. Not on the loop's thread
    // while the loop still runs them.
    void join();

  private:
    class Session;

    boost::asio::io_context& io_;
    const std::filesystem::path socket_path_;
    const xen::DomId domid_;
    hypervisor::DomainMemory& memory_;
    GuestDevices& devices_;
    os::SessionAcceptor<Session> sessions_;
    bool closed_ = false;
    WorkerThreads workers_;
};

}  // namespace pvsim::frontend::guest
