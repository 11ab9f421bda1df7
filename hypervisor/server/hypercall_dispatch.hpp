// Turns one well-framed hypercall request into its reply
// (hypervisor/protocol/hypercall.hpp): checks the payload's shape for the
// op, counts the call, runs it on GrantOps / EventChannels, and packs the
// reply with its fds. No sockets here: HypercallSession does the framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/server/domain.hpp"
#include "hypervisor/server/domain_table.hpp"
#include "hypervisor/server/event_channels.hpp"
#include "hypervisor/server/grant_ops.hpp"

namespace pvsim::hypervisor::server {

struct HypercallReply {
    std::int32_t result = 0;  // 0 or -errno for the call as a whole
    std::vector<std::byte> payload;
    std::vector<os::UniqueFd> fds;
};

class HypercallDispatcher {
  public:
    HypercallDispatcher(DomainTable& domains, GrantOps& grants, EventChannels& events)
        : domains_(domains), grants_(grants), events_(events) {}

    // The reply to `op` with `payload` from `connection` of domain `caller`.
    // A caller that is not running (it died while its request was queued)
    // gets -ESRCH.
    HypercallReply dispatch(xen::DomId caller, ConnectionId connection, std::uint32_t op,
                            std::span<const std::byte> payload);

    // The first message of every connection: who the caller is and its own
    // pages (Welcome, with the memory, grant-table and shared-info fds). A
    // guest's first connection also gets its xenstore event channel, made
    // here, owned by `connection`.
    HypercallReply welcome(Domain& domain, ConnectionId connection);

  private:
    HypercallReply domain_info(const Domain& caller, std::span<const std::byte> payload);

    DomainTable& domains_;
    GrantOps& grants_;
    EventChannels& events_;
};

}  // namespace pvsim::hypervisor::server
