#include "hypervisor/server/hypercall_dispatch.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <type_traits>

namespace pvsim::hypervisor::server {
namespace {

using wire::Op;

template <typename T>
std::vector<std::byte> bytes_of(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::vector<std::byte> bytes(sizeof(T));
    std::memcpy(bytes.data(), &value, sizeof(T));
    return bytes;
}

HypercallReply error(int errno_value) {
    HypercallReply reply;
    reply.result = -errno_value;
    return reply;
}

// A fixed-size argument struct, or nullopt-like false for the wrong size.
template <typename T>
bool read_fixed(std::span<const std::byte> payload, T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (payload.size() != sizeof(T)) {
        return false;
    }
    std::memcpy(&value, payload.data(), sizeof(T));
    return true;
}

// A batch (BatchHeader + count structs): 0 or -errno, as the protocol says.
template <typename T>
int read_batch(std::span<const std::byte> payload, std::vector<T>& ops) {
    static_assert(std::is_trivially_copyable_v<T>);
    wire::BatchHeader header{};
    if (payload.size() < sizeof header) {
        return -EINVAL;
    }
    std::memcpy(&header, payload.data(), sizeof header);
    if (header.count == 0) {
        return -EINVAL;
    }
    if (header.count > wire::kMaxBatch) {
        return -E2BIG;
    }
    if (payload.size() != sizeof header + std::size_t{header.count} * sizeof(T)) {
        return -EINVAL;
    }
    ops.resize(header.count);
    std::memcpy(ops.data(), payload.data() + sizeof header, header.count * sizeof(T));
    return 0;
}

template <typename T>
std::vector<std::byte> batch_bytes(const std::vector<T>& ops) {
    const wire::BatchHeader header{static_cast<std::uint32_t>(ops.size()), 0};
    std::vector<std::byte> bytes(sizeof header + ops.size() * sizeof(T));
    std::memcpy(bytes.data(), &header, sizeof header);
    std::memcpy(bytes.data() + sizeof header, ops.data(), ops.size() * sizeof(T));
    return bytes;
}

// Runs `run(ops)` on a well-formed batch and packs the slots back.
template <typename T, typename Run>
HypercallReply batch_call(std::span<const std::byte> payload, Run&& run) {
    std::vector<T> ops;
    if (const int result = read_batch(payload, ops); result != 0) {
        return error(-result);
    }
    HypercallReply reply;
    reply.fds = run(std::span<T>(ops));
    reply.payload = batch_bytes(ops);
    return reply;
}

// Runs `run(op, fds)` on a fixed-size argument and packs it back.
template <typename T, typename Run>
HypercallReply fixed_call(std::span<const std::byte> payload, Run&& run) {
    T op{};
    if (!read_fixed(payload, op)) {
        return error(EINVAL);
    }
    HypercallReply reply;
    reply.result = run(op, reply.fds);
    if (reply.result == 0) {
        reply.payload = bytes_of(op);
    } else {
        reply.fds.clear();
    }
    return reply;
}

}  // namespace

HypercallReply HypercallDispatcher::welcome(Domain& domain, ConnectionId connection) {
    HypercallReply reply;
    wire::Welcome welcome{};
    if (domain.domid() != 0 && domain.store_port == xen::kInvalidEvtchnPort) {
        // The guest's first connection, before its code runs: what libxl
        // does for a new domain's xenstore channel.
        wire::EvtchnAllocUnbound op{};
        op.dom = xen::kDomidSelf;
        op.remote_dom = 0;
        std::vector<os::UniqueFd> fds;
        if (const int result = events_.alloc_unbound(domain, connection, op, fds); result != 0) {
            return error(-result);
        }
        domain.store_port = op.port;
        welcome.store_evtchn = op.port;
        reply.fds = std::move(fds);
    }
    welcome.domid = domain.domid();
    welcome.flags = domain.domid() == 0 ? wire::kWelcomePrivileged : 0;
    welcome.memory_bytes = domain.memory_bytes();
    welcome.grant_frames = domain.grant_frames();
    welcome.max_evtchn_ports = wire::kMaxEvtchnPorts;
    welcome.store_gfn = kStoreGfn;
    welcome.first_free_gfn = kFirstFreeGfn;
    reply.payload = bytes_of(welcome);
    // The store port's fd, if any, goes last (kWelcomeGuestFds).
    std::vector<os::UniqueFd> fds;
    fds.push_back(os::duplicate_fd(domain.memory_fd()));
    fds.push_back(os::duplicate_fd(domain.grant_table_fd()));
    fds.push_back(os::duplicate_fd(domain.shared_info_fd()));
    std::move(reply.fds.begin(), reply.fds.end(), std::back_inserter(fds));
    reply.fds = std::move(fds);
    return reply;
}

HypercallReply HypercallDispatcher::domain_info(const Domain& caller,
                                                std::span<const std::byte> payload) {
    wire::DomainInfoRequest request{};
    if (!read_fixed(payload, request)) {
        return error(EINVAL);
    }
    const xen::DomId domid = request.domid == xen::kDomidSelf ? caller.domid() : request.domid;
    const Domain* domain = domains_.find(domid);
    if (domain == nullptr) {
        return error(ESRCH);
    }
    wire::DomainInfoReply info{};
    info.domid = domain->domid();
    info.state = static_cast<std::uint32_t>(domain->running() ? wire::DomainState::running
                                                              : wire::DomainState::dying);
    info.memory_bytes = domain->memory_bytes();
    info.grant_frames = domain->grant_frames();
    const std::size_t length = std::min(domain->name().size(), sizeof info.name - 1);
    std::memcpy(info.name, domain->name().data(), length);
    HypercallReply reply;
    reply.payload = bytes_of(info);
    return reply;
}

HypercallReply HypercallDispatcher::dispatch(xen::DomId caller_id, ConnectionId connection,
                                             std::uint32_t op, std::span<const std::byte> payload) {
    Domain* caller = domains_.find_running(caller_id);
    if (caller == nullptr) {
        return error(ESRCH);
    }
    // welcome is the hypervisor's to send; anything past the last op is
    // unknown. Neither is counted.
    if (op == static_cast<std::uint32_t>(Op::welcome) || op == 0 || op >= wire::kOpCount) {
        return error(ENOSYS);
    }
    ++caller->counters.hypercalls[op];
    Domain& self = *caller;
    switch (static_cast<Op>(op)) {
        case Op::domain_info:
            return domain_info(self, payload);
        case Op::grant_map:
            return batch_call<wire::GrantMapOp>(payload, [&](std::span<wire::GrantMapOp> ops) {
                return grants_.map(self, connection, ops);
            });
        case Op::foreign_map:
            // privcmd is dom0's alone.
            if (self.domid() != 0) {
                return error(EPERM);
            }
            return batch_call<wire::ForeignMapOp>(payload, [&](std::span<wire::ForeignMapOp> ops) {
                return grants_.foreign_map(self, connection, ops);
            });
        case Op::grant_unmap:
            return batch_call<wire::GrantUnmapOp>(payload, [&](std::span<wire::GrantUnmapOp> ops) {
                grants_.unmap(self, connection, ops);
                return std::vector<os::UniqueFd>{};
            });
        case Op::grant_copy:
            return batch_call<wire::GrantCopyOp>(payload, [&](std::span<wire::GrantCopyOp> ops) {
                grants_.copy(self, ops);
                return std::vector<os::UniqueFd>{};
            });
        case Op::grant_tables:
            return fixed_call<wire::GrantTablesOp>(
                payload, [&](wire::GrantTablesOp& args, std::vector<os::UniqueFd>& fds) {
                    fds = grants_.tables(self, connection, args);
                    return 0;
                });
        case Op::evtchn_alloc_unbound:
            return fixed_call<wire::EvtchnAllocUnbound>(
                payload, [&](wire::EvtchnAllocUnbound& args, std::vector<os::UniqueFd>& fds) {
                    return events_.alloc_unbound(self, connection, args, fds);
                });
        case Op::evtchn_bind_interdomain:
            return fixed_call<wire::EvtchnBindInterdomain>(
                payload, [&](wire::EvtchnBindInterdomain& args, std::vector<os::UniqueFd>& fds) {
                    return events_.bind_interdomain(self, connection, args, fds);
                });
        case Op::evtchn_send:
            return fixed_call<wire::EvtchnPortOp>(
                payload, [&](wire::EvtchnPortOp& args, std::vector<os::UniqueFd>& fds) {
                    return events_.send(self, args, fds);
                });
        case Op::evtchn_close:
            return fixed_call<wire::EvtchnPortOp>(
                payload, [&](wire::EvtchnPortOp& args, std::vector<os::UniqueFd>&) {
                    return events_.close(self, args.port);
                });
        case Op::evtchn_unmask:
            return fixed_call<wire::EvtchnPortOp>(
                payload, [&](wire::EvtchnPortOp& args, std::vector<os::UniqueFd>&) {
                    return events_.unmask(self, args.port);
                });
        case Op::evtchn_status:
            return fixed_call<wire::EvtchnStatusOp>(
                payload, [&](wire::EvtchnStatusOp& args, std::vector<os::UniqueFd>&) {
                    return events_.status(self, args);
                });
        case Op::evtchn_bind_virq:
            return fixed_call<wire::EvtchnBindVirq>(
                payload, [&](wire::EvtchnBindVirq& args, std::vector<os::UniqueFd>& fds) {
                    return events_.bind_virq(self, connection, args, fds);
                });
        case Op::welcome:
            break;
    }
    return error(ENOSYS);
}

}  // namespace pvsim::hypervisor::server
