// The memory quota (Xen 4.17 tools/xenstore/xenstored_domain.c:
// domain_memory_add(), domain_chk_quota()): what a domain holds in the
// store, and the log lines when it passes its soft limit.
#include <spdlog/spdlog.h>

#include "xenstore/store/state.hpp"

namespace pvsim::xenstore::store {

std::size_t StoreState::memory_of(xen::DomId domid) const {
    std::size_t total = tree.memory(domid);
    for (const auto& [id, connection] : connections) {
        if (connection.domid != domid) {
            continue;
        }
        for (const Watch& watch : connection.watches) {
            total += watch_memory(watch);
        }
        for (const auto& [tx_id, transaction] : connection.transactions) {
            total += transaction->copies_memory();
        }
    }
    return total;
}

void StoreState::note_memory(xen::DomId domid) {
    const std::size_t soft = quotas.memory_soft;
    if (domid == 0 || soft == 0) {
        return;
    }
    const std::size_t used = memory_of(domid);
    SoftMemory& note = soft_memory[domid];
    const bool over = used >= soft;
    const auto now = std::chrono::steady_clock::now();
    if (over == note.over || now - note.last_line < std::chrono::seconds(10)) {
        return;
    }
    note.over = over;
    note.last_line = now;
    if (over) {
        spdlog::warn("xenstore: dom {} holds {} bytes, over its soft memory quota of {}", domid,
                     used, soft);
    } else {
        spdlog::info("xenstore: dom {} holds {} bytes, below its soft memory quota of {} again",
                     domid, used, soft);
    }
}

}  // namespace pvsim::xenstore::store
