// pvsim-hypervisor's centre: the domains, their hypercall connections and
// processes, and the control socket, on one single-threaded Asio
// io_context (so nothing here needs a lock). Creates dom0 at start, spawns
// each guest with its hypercall connection as fd 3, handles a guest's death
// (its connection closing or its process ending, whichever comes first) and
// destroy, and on stop takes every domain process and shared-memory object
// of the run with it. The run's xenstored's connection ending stops it too:
// the host goes down with its xenstored (DESIGN.md §1, "The host").
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/os/child_process.hpp"
#include "common/run_dir.hpp"
#include "hypervisor/server/control_server.hpp"
#include "hypervisor/server/domain_table.hpp"
#include "hypervisor/server/event_channels.hpp"
#include "hypervisor/server/grant_ops.hpp"
#include "hypervisor/server/hypercall_dispatch.hpp"
#include "hypervisor/server/hypercall_session.hpp"

namespace pvsim::hypervisor::server {

struct HypervisorOptions {
    std::uint32_t max_grant_frames = 64;
    std::uint64_t dom0_memory = 64ull << 20;
    // destroy: how long a guest has between SIGTERM and SIGKILL.
    std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(5);
};

class Hypervisor final : public ControlBackend {
  public:
    // Creates dom0 and listens on the run's control socket. The caller has
    // made sure no other hypervisor serves the run and cleared what a
    // previous one left behind (socket file, shared-memory objects).
    Hypervisor(boost::asio::io_context& io, const RunDir& run_dir, HypervisorOptions options);
    ~Hypervisor() override;
    Hypervisor(const Hypervisor&) = delete;
    Hypervisor& operator=(const Hypervisor&) = delete;

    // Kills (SIGKILL) and reaps every domain process, closes every
    // connection, removes every shared-memory object of the run and the
    // control socket, and stops the io_context. Idempotent.
    void stop();

    // ControlBackend
    nlohmann::json create(const CreateRequest& request) override;
    void destroy(const DomainSelector& selector, Done done) override;
    nlohmann::json list() override;
    nlohmann::json info(const DomainSelector& selector) override;
    nlohmann::json stats() override;
    os::UniqueFd connect(bool xenstored) override;
    void release_xenstored() override;
    void shutdown() override { stop(); }

    // Why the hypervisor stopped on its own (the run's xenstored went);
    // empty when it was told to stop.
    const std::string& host_failure() const noexcept { return host_failure_; }

  private:
    // What a guest has beyond its Domain record: its process, its one
    // connection, the pidfd that reports its end, and a destroy under way.
    struct Guest {
        os::ChildProcess process;
        std::shared_ptr<HypercallSession> session;
        std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd;
        std::unique_ptr<boost::asio::steady_timer> kill_timer;
        std::vector<Done> destroy_waiters;
    };

    std::shared_ptr<HypercallSession> serve(Domain& domain, os::UniqueFd socket);
    HypercallReply on_request(HypercallSession& session, std::uint32_t op,
                              std::span<const std::byte> payload);
    void on_closed(HypercallSession& session, const std::string& reason, bool broken);
    void watch_process(xen::DomId domid);
    void domain_died(xen::DomId domid, const std::string& reason);
    // SIGKILL to the guest's process if it still runs after `grace` (its
    // death, seen on its pidfd, then tears the domain down). Once per guest.
    void kill_after(xen::DomId domid, std::chrono::nanoseconds grace);
    void reap_dying();
    Domain& select(const std::string& op, const DomainSelector& selector) const;
    nlohmann::json describe(const Domain& domain) const;
    static nlohmann::json counters_of(const Domain& domain);

    boost::asio::io_context& io_;
    RunDir run_dir_;
    HypervisorOptions options_;
    DomainTable domains_;
    GrantOps grants_;
    EventChannels events_;
    HypercallDispatcher dispatcher_;
    std::map<ConnectionId, std::shared_ptr<HypercallSession>> sessions_;
    std::map<xen::DomId, Guest> guests_;
    ConnectionId next_connection_ = 1;
    std::unique_ptr<ControlServer> control_;
    // The connection the run's xenstored made (connect(true)).
    std::optional<ConnectionId> xenstored_;
    std::string host_failure_;
    bool stopped_ = false;
};

}  // namespace pvsim::hypervisor::server
