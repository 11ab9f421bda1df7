#include "hypervisor/server/hypervisor.hpp"

#include <fcntl.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "common/os/shared_memory.hpp"
#include "common/os/unix_socket.hpp"
#include "common/units.hpp"
#include "hypervisor/protocol/control.hpp"

extern char** environ;

namespace pvsim::hypervisor::server {
namespace {

// How long a guest whose hypercall connection ended has to finish exiting.
constexpr std::chrono::milliseconds kExitGrace{1000};

using nlohmann::json;

// This process's environment, then the request's, then the variables that
// tell a domain process where it is (control.hpp).
std::vector<std::string> guest_environment(const CreateRequest& request, xen::DomId domid,
                                           const RunDir& run_dir) {
    std::map<std::string, std::string> variables;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string text(*entry);
        const auto equals = text.find('=');
        if (equals != std::string::npos && equals > 0) {
            variables[text.substr(0, equals)] = text.substr(equals + 1);
        }
    }
    for (const auto& [name, value] : request.env) {
        variables[name] = value;
    }
    variables[std::string(wire::kHypercallFdVariable)] = std::to_string(wire::kHypercallChildFd);
    variables[std::string(wire::kDomidVariable)] = std::to_string(domid);
    variables[std::string(wire::kRunDirVariable)] = run_dir.path().string();
    std::vector<std::string> result;
    result.reserve(variables.size());
    for (const auto& [name, value] : variables) {
        result.push_back(name + "=" + value);
    }
    return result;
}

os::UniqueFd open_console(const std::filesystem::path& path) {
    os::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) {
        os::throw_system_error("open " + path.string());
    }
    return fd;
}

}  // namespace

Hypervisor::Hypervisor(boost::asio::io_context& io, const RunDir& run_dir,
                       HypervisorOptions options)
    : io_(io),
      run_dir_(run_dir),
      options_(options),
      domains_(run_dir.shm_tag(), options.max_grant_frames),
      grants_(domains_),
      events_(domains_),
      dispatcher_(domains_, grants_, events_) {
    const std::uint64_t dom0_memory =
        (options.dom0_memory + xen::kXenPageSize - 1) / xen::kXenPageSize * xen::kXenPageSize;
    const Domain& dom0 = domains_.create("Domain-0", dom0_memory);
    spdlog::info("domain 0 (Domain-0) created: {} of memory, {} grant frames",
                 format_size(dom0.memory_bytes()), dom0.grant_frames());
    control_ = std::make_unique<ControlServer>(io_, run_dir_.hypervisor_socket(), *this);
    spdlog::info("serving {}", run_dir_.hypervisor_socket().string());
}

Hypervisor::~Hypervisor() {
    stop();
}

void Hypervisor::stop() {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    spdlog::info("stopping");
    control_->close();
    for (auto& [domid, guest] : guests_) {
        for (Done& done : guest.destroy_waiters) {
            done(nullptr, "the hypervisor is shutting down");
        }
        if (guest.kill_timer) {
            guest.kill_timer->cancel();
        }
        // The process first: a guest that saw its connection end while it
        // ran would take it for its host's death.
        const pid_t pid = guest.process.pid();
        if (guest.process.running()) {
            guest.process.kill(SIGKILL);
            spdlog::info("domain {}: process {} {}", domid, pid, guest.process.wait().describe());
        }
        if (guest.session) {
            guest.session->close();
        }
    }
    guests_.clear();
    for (auto& [id, session] : sessions_) {
        session->close();
    }
    sessions_.clear();
    domains_.clear();
    const std::size_t removed = os::remove_run_shm(run_dir_.shm_tag());
    if (removed > 0) {
        spdlog::warn("removed {} shared-memory objects left over", removed);
    }
    std::error_code ec;
    std::filesystem::remove(run_dir_.hypervisor_socket(), ec);
    spdlog::info("stopped");
    io_.stop();
}

std::shared_ptr<HypercallSession> Hypervisor::serve(Domain& domain, os::UniqueFd socket) {
    const ConnectionId id = next_connection_++;
    auto session = std::make_shared<HypercallSession>(
        os::adopt_socket(io_, std::move(socket)), domain.domid(), id,
        [this](HypercallSession& s, std::uint32_t op, std::span<const std::byte> payload) {
            return on_request(s, op, payload);
        },
        [this](HypercallSession& s, const std::string& reason, bool broken) {
            on_closed(s, reason, broken);
        });
    sessions_.emplace(id, session);
    spdlog::debug("domain {}: connection {} opened", domain.domid(), id);
    session->start(dispatcher_.welcome(domain, id));
    return session;
}

HypercallReply Hypervisor::on_request(HypercallSession& session, std::uint32_t op,
                                      std::span<const std::byte> payload) {
    HypercallReply reply = dispatcher_.dispatch(session.domid(), session.id(), op, payload);
    if (spdlog::should_log(spdlog::level::trace)) {
        spdlog::trace("domain {} connection {}: {} ({} bytes) -> {}", session.domid(), session.id(),
                      wire::op_name(static_cast<wire::Op>(op)), payload.size(), reply.result);
    }
    // A granter's last mapping may have gone: in an unmap here, or in the
    // caller's own process, which then asks for the granter's tables again.
    if (op == static_cast<std::uint32_t>(wire::Op::grant_unmap) ||
        op == static_cast<std::uint32_t>(wire::Op::grant_tables)) {
        reap_dying();
    }
    return reply;
}

void Hypervisor::on_closed(HypercallSession& session, const std::string& reason, bool broken) {
    const xen::DomId domid = session.domid();
    const ConnectionId id = session.id();
    if (broken) {
        spdlog::warn("domain {}: connection {} dropped: {}", domid, id, reason);
    } else {
        spdlog::debug("domain {}: connection {} ended: {}", domid, id, reason);
    }
    sessions_.erase(id);
    if (id == xenstored_ && !stopped_) {
        // The host's xenstore is gone: no guest can be reached or started
        // any more, and none outlives it (DESIGN.md §1, "The host").
        host_failure_ = "pvsim-xenstored is gone (its hypercall connection " + std::to_string(id) +
                        " ended: " + reason + ")";
        spdlog::error("{}: the host goes down with it", host_failure_);
        boost::asio::post(io_, [this] { stop(); });
        return;
    }
    if (guests_.contains(domid)) {
        // A guest's connection ends as its process exits: the process gets a
        // moment to finish exiting, so that the status reported is its own,
        // then is killed. Without its connection it can do nothing more.
        spdlog::info("domain {}: hypercall connection ended ({})", domid, reason);
        kill_after(domid, kExitGrace);
        return;
    }
    // A dom0 connection, like a closed gntdev/evtchn file: only what it
    // made goes.
    if (Domain* domain = domains_.find(domid); domain != nullptr) {
        const std::size_t ports = events_.close_connection(*domain, id);
        const std::size_t maps = grants_.release_connection(*domain, id);
        if (ports > 0 || maps > 0) {
            spdlog::info("domain {}: connection {} closed {} ports, released {} mappings", domid,
                         id, ports, maps);
        }
        reap_dying();
    }
}

void Hypervisor::watch_process(xen::DomId domid) {
    Guest& guest = guests_.at(domid);
    guest.pidfd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                            [this, domid](boost::system::error_code ec) {
                                if (ec || stopped_) {
                                    return;  // cancelled: the death was handled already
                                }
                                domain_died(domid, "its process ended");
                            });
}

void Hypervisor::domain_died(xen::DomId domid, const std::string& reason) {
    const auto found = guests_.find(domid);
    if (found == guests_.end()) {
        return;  // handled already
    }
    Guest guest = std::move(found->second);
    guests_.erase(found);
    Domain* domain = domains_.find(domid);
    const std::string name = domain != nullptr ? domain->name() : std::string("?");
    spdlog::info("domain {} ({}) died: {}", domid, name, reason);

    if (domain != nullptr) {
        domain->set_dying();
        const std::size_t ports = events_.close_all(*domain);
        const std::size_t maps = grants_.release_all(*domain);
        spdlog::info("domain {}: closed {} ports, released {} mappings", domid, ports, maps);
    }
    if (guest.kill_timer) {
        guest.kill_timer->cancel();
    }
    guest.pidfd.reset();
    // The process before its connection: a guest still running (a destroy's
    // grace ran out) that saw its connection end would take it for its
    // host's death (os::exit_with_host).
    const pid_t pid = guest.process.pid();
    if (guest.process.running()) {
        std::optional<os::ExitStatus> status = guest.process.try_wait();
        if (!status) {
            guest.process.kill(SIGKILL);
            status = guest.process.wait();
        }
        spdlog::info("domain {}: process {} {}", domid, pid, status->describe());
    }
    if (guest.session) {
        guest.session->close();
        sessions_.erase(guest.session->id());
    }

    reap_dying();
    // domain_kill: send_global_virq(VIRQ_DOM_EXC), so that xenstored looks.
    events_.raise_dom_exc();
    const bool dying = domains_.find(domid) != nullptr;
    if (dying) {
        spdlog::info("domain {}: dying while another domain maps its memory", domid);
    }
    for (Done& done : guest.destroy_waiters) {
        done({{"domid", domid}, {"state", dying ? "dying" : "destroyed"}}, {});
    }
}

void Hypervisor::reap_dying() {
    for (const xen::DomId domid : domains_.reap_dying()) {
        spdlog::info("domain {}: no mapping of its memory left; its shared memory is removed",
                     domid);
        events_.raise_dom_exc();
    }
}

Domain& Hypervisor::select(const std::string& op, const DomainSelector& selector) const {
    Domain* domain =
        selector.domid ? domains_.find(*selector.domid) : domains_.find_by_name(selector.name);
    if (domain == nullptr) {
        throw ControlRequestError(op + ": no " + selector.describe());
    }
    return *domain;
}

json Hypervisor::create(const CreateRequest& request) {
    if (const Domain* other = domains_.find_by_name(request.name);
        other != nullptr && other->running()) {
        throw ControlRequestError("create: a domain named '" + request.name +
                                  "' already exists (domain " + std::to_string(other->domid()) +
                                  ")");
    }
    Domain* domain = nullptr;
    try {
        domain = &domains_.create(request.name, request.memory_bytes);
    } catch (const std::exception& e) {
        throw ControlRequestError("create: cannot create domain '" + request.name +
                                  "': " + e.what());
    }
    const xen::DomId domid = domain->domid();
    try {
        auto [ours, theirs] = os::make_socket_pair();
        const os::UniqueFd console = open_console(run_dir_.log_file(request.name + ".console"));
        os::SpawnOptions spawn;
        spawn.fds = {{theirs.get(), wire::kHypercallChildFd},
                     {console.get(), STDOUT_FILENO},
                     {console.get(), STDERR_FILENO}};
        spawn.environment = guest_environment(request, domid, run_dir_);
        spawn.cpus = request.cpus;
        os::ChildProcess process = os::ChildProcess::spawn(request.program, request.args, spawn);
        theirs.reset();
        auto pidfd = std::make_unique<boost::asio::posix::stream_descriptor>(
            io_, process.open_pidfd().release());
        const pid_t pid = process.pid();
        guests_.emplace(domid, Guest{std::move(process), nullptr, std::move(pidfd), nullptr, {}});
        guests_.at(domid).session = serve(*domain, std::move(ours));
        watch_process(domid);
        spdlog::info("domain {} ({}) created: {} of memory, process {} running {}{}", domid,
                     request.name, format_size(domain->memory_bytes()), pid,
                     request.program.string(),
                     request.cpus ? " on CPUs " + request.cpus->to_string() : std::string());
    } catch (const std::exception& e) {
        if (const auto it = guests_.find(domid); it != guests_.end()) {
            if (it->second.session) {
                it->second.session->close();
                sessions_.erase(it->second.session->id());
            }
            guests_.erase(it);  // kills and reaps a process already started
        }
        domains_.remove(domid);
        throw ControlRequestError("create: cannot start domain '" + request.name +
                                  "': " + e.what());
    }
    return {{"domid", domid}, {"store_gfn", kStoreGfn}, {"store_port", domain->store_port}};
}

void Hypervisor::destroy(const DomainSelector& selector, Done done) {
    const Domain& domain = select("destroy", selector);
    const xen::DomId domid = domain.domid();
    if (domid == 0) {
        throw ControlRequestError("destroy: domain 0 (Domain-0) cannot be destroyed");
    }
    const auto found = guests_.find(domid);
    if (!domain.running() || found == guests_.end()) {
        done({{"domid", domid}, {"state", "dying"}}, {});
        return;
    }
    Guest& guest = found->second;
    guest.destroy_waiters.push_back(std::move(done));
    if (guest.kill_timer) {
        return;  // a destroy is under way already
    }
    // As xl destroy after a shutdown request: ask politely, then insist.
    spdlog::info("domain {} ({}): destroy: SIGTERM to process {}", domid, domain.name(),
                 guest.process.pid());
    guest.process.kill(SIGTERM);
    kill_after(domid, options_.shutdown_timeout);
}

void Hypervisor::kill_after(xen::DomId domid, std::chrono::nanoseconds grace) {
    Guest& guest = guests_.at(domid);
    if (guest.kill_timer) {
        return;  // armed already (a destroy under way)
    }
    guest.kill_timer = std::make_unique<boost::asio::steady_timer>(io_);
    guest.kill_timer->expires_after(grace);
    guest.kill_timer->async_wait([this, domid, grace](boost::system::error_code ec) {
        if (ec || stopped_) {
            return;
        }
        const auto it = guests_.find(domid);
        if (it == guests_.end()) {
            return;
        }
        spdlog::warn("domain {}: process {} still running after {} ms; SIGKILL", domid,
                     it->second.process.pid(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(grace).count());
        it->second.process.kill(SIGKILL);
    });
}

json Hypervisor::describe(const Domain& domain) const {
    const auto guest = guests_.find(domain.domid());
    return {{"domid", domain.domid()},
            {"name", domain.name()},
            {"state", domain.running() ? "running" : "dying"},
            {"memory", domain.memory_bytes()},
            {"grant_frames", domain.grant_frames()},
            {"pid", guest != guests_.end() ? guest->second.process.pid() : 0},
            {"ports", domain.port_count()},
            {"maps", domain.maptrack_count()},
            // What the toolstack passes on in XS_INTRODUCE (domid, frame, port).
            {"store_gfn", kStoreGfn},
            {"store_port", domain.store_port}};
}

json Hypervisor::counters_of(const Domain& domain) {
    json hypercalls = json::object();
    for (std::uint32_t op = 0; op < wire::kOpCount; ++op) {
        const auto name = std::string(wire::op_name(static_cast<wire::Op>(op)));
        if (name != "unknown" && op != static_cast<std::uint32_t>(wire::Op::welcome)) {
            hypercalls[name] = domain.counters.hypercalls[op];
        }
    }
    const wire::SharedInfoView info = domain.shared_info();
    return {{"hypercalls", hypercalls},
            {"grant_maps", domain.grant_maps_counted()},
            {"grant_unmaps", domain.grant_unmaps_counted()},
            {"grant_copies", domain.counters.grant_copies},
            {"foreign_maps", domain.counters.foreign_maps},
            {"events_sent", domain.counters.events_sent},
            {"memory_fds_sent", domain.counters.memory_fds_sent},
            {"events_sent_fast", info.events_sent_fast().load(std::memory_order_relaxed)},
            {"events_delivered", info.events_delivered().load(std::memory_order_relaxed)}};
}

json Hypervisor::list() {
    json domains = json::array();
    for (const auto& [domid, domain] : domains_.domains()) {
        domains.push_back(describe(*domain));
    }
    return domains;
}

json Hypervisor::info(const DomainSelector& selector) {
    return describe(select("info", selector));
}

json Hypervisor::stats() {
    json domains = json::array();
    for (const auto& [domid, domain] : domains_.domains()) {
        domains.push_back(
            {{"domid", domid}, {"name", domain->name()}, {"counters", counters_of(*domain)}});
    }
    return domains;
}

void Hypervisor::release_xenstored() {
    if (xenstored_) {
        spdlog::info("domain 0: xenstored (connection {}) is stopping in order", *xenstored_);
        xenstored_.reset();
    }
}

os::UniqueFd Hypervisor::connect(bool xenstored) {
    Domain* dom0 = domains_.find_running(0);
    if (dom0 == nullptr) {
        throw ControlRequestError("connect: domain 0 is gone");
    }
    if (xenstored && xenstored_) {
        throw ControlRequestError("connect: xenstored is connected already (connection " +
                                  std::to_string(*xenstored_) + ")");
    }
    auto [ours, theirs] = os::make_socket_pair();
    const auto session = serve(*dom0, std::move(ours));
    if (xenstored) {
        xenstored_ = session->id();
        spdlog::info("domain 0: connection {} is xenstored's", session->id());
    }
    return std::move(theirs);
}

}  // namespace pvsim::hypervisor::server
