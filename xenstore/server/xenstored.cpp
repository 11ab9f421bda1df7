#include "xenstore/server/xenstored.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "common/os/shared_memory.hpp"
#include "common/os/unique_fd.hpp"
#include "common/os/unix_socket.hpp"
#include "hypervisor/client/control_client.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/server/socket_connection.hpp"

namespace pvsim::xenstore::server {

namespace xs = xen::xs;

namespace {

// A message as C xenstored's trace_io() writes it (tools/xenstored/core.c,
// --trace-file): its type, ids and payload, each NUL shown as a space.
std::string traced(const xs::MessageHeader& header, std::string_view payload) {
    std::string text(payload);
    std::replace(text.begin(), text.end(), '\0', ' ');
    return fmt::format("{} req_id {} tx_id {} ({})",
                       xs::name(static_cast<xs::MessageType>(header.type)), header.req_id,
                       header.tx_id, text);
}

}  // namespace

Xenstored::Xenstored(boost::asio::io_context& io, const RunDir& run_dir,
                     const XenstoredOptions& options)
    : io_(io),
      run_dir_(run_dir),
      quotas_(options.quotas),
      limits_{options.quotas.outstanding_requests, options.watch_event_timeout},
      store_(quotas_, static_cast<store::Outbox&>(*this), static_cast<store::DomainHooks&>(*this)),
      acceptor_(io) {
    const std::filesystem::path socket_path = run_dir_.xenstored_socket();
    // Every client of the socket speaks as dom0: only this user may connect.
    os::listen_private(acceptor_, socket_path);
    connect_hypervisor();
    accept();
    spdlog::info(
        "serving {} (quotas: {} nodes, {} bytes per node, {} watches, {} transactions, "
        "{} outstanding requests per domain; watch events wait {} ms)",
        socket_path.string(), quotas_.nodes, quotas_.node_size, quotas_.watches,
        quotas_.transactions, quotas_.outstanding_requests, limits_.watch_event_timeout.count());
}

Xenstored::~Xenstored() {
    stop();
}

void Xenstored::stop() {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& [id, connection] : connections_) {
        connection->close();
    }
    for (auto& [domid, ring] : rings_) {
        ring->close();
    }
    if (hypervisor_ && host_failure_.empty()) {
        // Told to stop, not dying: the hypervisor is to outlive this
        // connection (DESIGN.md §1, "The host").
        try {
            hypervisor::ControlClient(run_dir_.hypervisor_socket()).release_xenstored();
        } catch (const std::exception& e) {
            spdlog::warn("telling the hypervisor that xenstored stops: {}", e.what());
        }
    }
    connections_.clear();
    rings_.clear();
    registered_.clear();
    // After the rings: they unmap and unbind through it.
    hypervisor_.reset();
    std::error_code removed;
    std::filesystem::remove(run_dir_.xenstored_socket(), removed);
    spdlog::info("stopped");
    io_.stop();
}

void Xenstored::connect_hypervisor() {
    const std::filesystem::path control = run_dir_.hypervisor_socket();
    std::error_code ec;
    if (!std::filesystem::exists(control, ec)) {
        spdlog::warn("no hypervisor serves {}: the socket is served, XS_INTRODUCE is not",
                     run_dir_.path().string());
        return;
    }
    try {
        hypervisor::Hypervisor hypervisor = hypervisor::Hypervisor::connect_dom0(run_dir_, true);
        HypervisorLink::Events events;
        events.domain_exception = [this] { check_domains(); };
        events.lost = [this](const std::string& reason) { hypervisor_lost(reason); };
        hypervisor_ = std::make_unique<HypervisorLink>(io_, std::move(hypervisor), events);
        spdlog::info("connected to the hypervisor as dom0{}",
                     hypervisor_->watching_deaths() ? ", VIRQ_DOM_EXC bound" : "");
    } catch (const std::exception& e) {
        spdlog::error("cannot connect to the hypervisor at {}: {}; XS_INTRODUCE is not served",
                      control.string(), e.what());
    }
}

void Xenstored::accept() {
    acceptor_.async_accept(
        [this](boost::system::error_code ec, boost::asio::local::stream_protocol::socket socket) {
            if (stopped_) {
                return;
            }
            if (ec) {
                spdlog::warn("xenstored socket: accept failed: {}", ec.message());
            } else {
                const ConnectionId id = next_connection_++;
                // The client's pid in the log (every pvsim log line carries
                // its pid), so that a traced request can be traced to a process.
                ucred peer{};
                socklen_t peer_size = sizeof peer;
                const bool known = ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED,
                                                &peer, &peer_size) == 0;
                auto connection = std::make_shared<SocketConnection>(
                    std::move(socket), id, limits_, static_cast<ConnectionOwner&>(*this));
                connections_.emplace(id, connection);
                store_.connect(id, 0);
                registered_.insert(id);
                spdlog::debug("{} opened by pid {}", connection->describe(),
                              known ? std::to_string(peer.pid) : "unknown");
                connection->start();
            }
            accept();
        });
}

void Xenstored::deliver(ConnectionId connection, const xs::MessageHeader& header,
                        std::string_view payload) {
    const auto found = connections_.find(connection);
    if (found == connections_.end()) {
        spdlog::debug("connection {} is gone: {} dropped", connection,
                      xs::name(static_cast<xs::MessageType>(header.type)));
        return;
    }
    if (spdlog::should_log(spdlog::level::trace)) {
        spdlog::trace("OUT {}: {}", found->second->describe(), traced(header, payload));
    }
    if (connection == current_requester_ &&
        header.type != static_cast<std::uint32_t>(xs::MessageType::watch_event)) {
        current_answered_ = true;
    }
    found->second->queue(header, payload, current_request_);
}

void Xenstored::on_request(Connection& connection, const xs::MessageHeader& header,
                           std::string_view payload, const std::shared_ptr<RequestToken>& token) {
    // PVSIM_LOG=trace: every request and every message sent, with its
    // payload, so that a log can name who wrote a node.
    if (spdlog::should_log(spdlog::level::trace)) {
        spdlog::trace("IN {}: {}", connection.describe(), traced(header, payload));
    }
    current_request_ = token;
    current_requester_ = connection.id();
    current_answered_ = false;
    try {
        store_.handle(connection.id(), header, payload);
    } catch (const std::exception& e) {
        // A request must never take the daemon down; the client must not
        // wait forever either.
        spdlog::error("{}: {} failed: {}", connection.describe(),
                      xs::name(static_cast<xs::MessageType>(header.type)), e.what());
        if (!current_answered_) {
            const std::string_view error = xs::error_name(EIO);
            std::string reply(error);
            reply.push_back('\0');
            const xs::MessageHeader answer{static_cast<std::uint32_t>(xs::MessageType::error),
                                           header.req_id, header.tx_id,
                                           static_cast<std::uint32_t>(reply.size())};
            connection.queue(answer, reply, token);
        }
    }
    current_request_.reset();
    current_requester_ = 0;
}

void Xenstored::on_closed(Connection& connection, const std::string& reason) {
    const ConnectionId id = connection.id();
    // The object may be held only by our maps: keep it until we are done.
    const std::shared_ptr<Connection> keep = connection.shared_from_this();
    if (connection.privileged()) {
        spdlog::debug("{} closed: {}", connection.describe(), reason);
    } else {
        // A guest's ring stopped by its own fault (ignore_connection): the
        // domain stays introduced until it is released or dies.
        spdlog::warn("{} stopped: {}", connection.describe(), reason);
    }
    connections_.erase(id);
    if (registered_.erase(id) != 0) {
        store_.disconnect(id);
    }
}

int Xenstored::introduce(xen::DomId domid, std::uint64_t gfn, xen::EvtchnPort port) {
    if (!hypervisor_) {
        // Nothing can map a guest's page or bind its port without the
        // hypervisor. ENOSYS ("function not implemented") says that this
        // daemon cannot do it at all, which the toolstack can tell from a
        // bad argument (EINVAL) or a refusal (EACCES).
        spdlog::info("XS_INTRODUCE of dom {}: no hypervisor connection", domid);
        return ENOSYS;
    }
    int error = 0;
    std::unique_ptr<ForeignRing> ring = hypervisor_->open_ring(domid, gfn, port, error);
    if (!ring) {
        return error;
    }
    const ConnectionId id = next_connection_++;
    auto connection = std::make_shared<RingConnection>(io_, id, domid, std::move(ring), limits_,
                                                       static_cast<ConnectionOwner&>(*this));
    connections_.emplace(id, connection);
    rings_.emplace(domid, connection);
    store_.connect(id, domid);
    registered_.insert(id);
    spdlog::info("dom {} introduced: frame {}, port {}, {}", domid, gfn, port,
                 connection->describe());
    // Its requests are read from the loop, once the request that
    // introduced it is over: the store is not re-entered.
    boost::asio::post(io_, [weak = std::weak_ptr<RingConnection>(connection)] {
        if (const std::shared_ptr<RingConnection> ring_connection = weak.lock()) {
            ring_connection->start();
        }
    });
    return 0;
}

int Xenstored::reintroduce(xen::DomId domid, xen::EvtchnPort port) {
    const auto found = rings_.find(domid);
    if (found == rings_.end() || found->second->closed()) {
        // A ring stopped for the guest's fault stays stopped, as C
        // xenstored's ignored connections do.
        return 0;
    }
    if (!hypervisor_) {
        return ENOSYS;
    }
    const std::shared_ptr<RingConnection> ring = found->second;
    ring->unbind();
    int error = 0;
    hypervisor::EventChannel channel = hypervisor_->bind(domid, port, error);
    if (!channel) {
        // Without a port the ring cannot be served: it stops, and the store
        // forgets the connection once this request is over.
        spdlog::warn("dom {} introduced again, but port {} cannot be bound: {} stopped", domid,
                     port, ring->describe());
        ring->close();
        connections_.erase(ring->id());
        boost::asio::post(io_, [this, id = ring->id()] {
            if (registered_.erase(id) != 0) {
                store_.disconnect(id);
            }
        });
        return error;
    }
    spdlog::info("dom {} introduced again: its ring starts over on port {}", domid, port);
    ring->rebind(std::move(channel));
    return 0;
}

void Xenstored::release(xen::DomId domid) {
    const auto found = rings_.find(domid);
    if (found == rings_.end()) {
        return;
    }
    const std::shared_ptr<RingConnection> ring = found->second;
    rings_.erase(found);
    // The store has disconnected it already (DomainHooks::release).
    registered_.erase(ring->id());
    connections_.erase(ring->id());
    ring->close();
    spdlog::info("dom {} released: {} closed", domid, ring->describe());
}

void Xenstored::check_domains() {
    if (!hypervisor_) {
        return;
    }
    std::vector<xen::DomId> gone;
    for (const auto& [domid, ring] : rings_) {
        try {
            if (hypervisor_->domain_gone(domid)) {
                gone.push_back(domid);
            }
        } catch (const std::exception& e) {
            spdlog::warn("asking the hypervisor about dom {}: {}", domid, e.what());
            break;
        }
    }
    for (const xen::DomId domid : gone) {
        domain_died(domid);
    }
}

void Xenstored::domain_died(xen::DomId domid) {
    spdlog::info("dom {} is gone: forgetting it", domid);
    try {
        store_.domain_gone(domid);
    } catch (const std::exception& e) {
        spdlog::error("forgetting dom {}: {}", domid, e.what());
    }
    // Idempotent: the store may have released it already.
    release(domid);
}

void Xenstored::hypervisor_lost(const std::string& reason) {
    if (stopped_ || !hypervisor_) {
        return;
    }
    host_failure_ = "pvsim-hypervisor is gone (" + reason + ")";
    spdlog::error("lost the hypervisor ({}): the host is down, every introduced domain with it",
                  reason);
    std::vector<xen::DomId> domids;
    for (const auto& [domid, ring] : rings_) {
        domids.push_back(domid);
    }
    for (const xen::DomId domid : domids) {
        domain_died(domid);
    }
    hypervisor_.reset();
    // A hypervisor that stopped removed the run's shared memory itself; one
    // that was killed left it, and nobody else is left to: the host's
    // memory goes with the host.
    if (const std::size_t removed = os::remove_run_shm(run_dir_.shm_tag()); removed > 0) {
        spdlog::warn("removed {} shared-memory objects the hypervisor left", removed);
    }
    stop();
}

}  // namespace pvsim::xenstore::server
