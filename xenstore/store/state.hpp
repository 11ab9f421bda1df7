// Everything one xenstore holds besides its tree: the connections with their
// watches and transactions, which domains are introduced, and where replies
// and events go. Shared by the request handlers (requests.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/store/access.hpp"
#include "xenstore/store/transaction.hpp"
#include "xenstore/store/tree.hpp"
#include "xenstore/store/watches.hpp"
#include "xenstore/store/xenstore.hpp"

namespace pvsim::xenstore::store {

struct Connection {
    xen::DomId domid = 0;
    std::vector<Watch> watches;  // in registration order, as watch.c's list
    std::map<std::uint32_t, std::unique_ptr<Transaction>> transactions;
    std::uint32_t next_transaction_id = 1;
    // What this connection has been refused for and warned about: the
    // quotas by name, and "unknown request type". The first refusal of each
    // is a warning, the rest are debug lines.
    std::set<std::string, std::less<>> reported;
};

struct StoreState {
    StoreState(const Quotas& quotas_, Outbox& outbox_, DomainHooks& hooks_)
        : quotas(quotas_), outbox(outbox_), hooks(hooks_) {}

    Quotas quotas;  // CONTROL "quota set" changes them
    Outbox& outbox;
    DomainHooks& hooks;
    Tree tree;
    std::map<ConnectionId, Connection> connections;
    // dom0 counts as introduced from the start: C xenstored introduces it
    // itself (domain.c: dom0_init()).
    std::set<xen::DomId> introduced{0};
    std::map<xen::DomId, xen::DomId> targets;  // XS_SET_TARGET: domain -> its target

    Caller caller_of(const Connection& connection) const;

    // Bytes `domid` holds against the memory quota (domain.c:
    // domain->memory): its nodes, its connections' watches, and the copies
    // its open transactions keep. C xenstored also counts the replies and
    // events queued for it; pvsim's daemon bounds those by the outstanding
    // quota and the watch-event timeout instead.
    std::size_t memory_of(xen::DomId domid) const;
    // After a request that charged `domid` or came from it: logs its
    // crossing Quotas::memory_soft, either way, at most once every 10 s per
    // domain (domain.c: domain_chk_quota(), MEM_WARN_MINTIME_SEC).
    void note_memory(xen::DomId domid);

    struct SoftMemory {
        bool over = false;
        std::chrono::steady_clock::time_point last_line{};
    };
    std::map<xen::DomId, SoftMemory> soft_memory;  // forgotten with the domain

    // Sends `event` to every connection with a matching watch that may hear
    // of it (watch.c: fire_watches()).
    void fire(const WatchEvent& event);
    // One XS_WATCH_EVENT (req_id and tx_id 0); over-long events are dropped
    // as core.c: send_event() does.
    void send_event(ConnectionId connection, std::string_view payload);
    void send(ConnectionId connection, std::uint32_t type, std::uint32_t req_id,
              std::uint32_t tx_id, std::string_view payload);
};

}  // namespace pvsim::xenstore::store
