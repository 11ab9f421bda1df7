// Grant-table hypercalls (xen/common/grant_table.c, v1 entries only):
// map (of one's own grants: another domain's are mapped in the mapping
// process, after `tables`), unmap, copy, and dom0's foreign map, with
// per-slot GNTST_* statuses; and what a connection's end releases, with the
// recount of pins that makes a mapper's death mid-map harmless.
// Works on the domains of a DomainTable; knows nothing of sockets, so the
// whole of it can be driven directly.
//
// Pinning follows Xen (wire::ActiveGrants, shared with the mappers): the
// first pin of an entry checks and marks the shared entry with one
// compare-and-swap of its {flags, domid} word (_set_status_v1), later pins
// only count in the active entry, and the last unpin clears GTF_writing /
// GTF_reading again (unmap_common_complete), which is what lets the
// granting guest end its access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/server/domain.hpp"
#include "hypervisor/server/domain_table.hpp"

namespace pvsim::hypervisor::server {

class GrantOps {
  public:
    explicit GrantOps(DomainTable& domains, std::size_t max_maptrack = kMaxMaptrackHandles)
        : domains_(domains), max_maptrack_(max_maptrack) {}

    // GNTTABOP_map_grant_ref for each slot, filling its OUT fields. Returns
    // the fds to attach to the reply: a granter's memory fd when a slot is
    // `connection`'s first mapping of that granter's memory object
    // (Domain::memory_sent; the slot's host_addr is then the fd's index,
    // else wire::kNoFd).
    std::vector<os::UniqueFd> map(Domain& caller, ConnectionId connection,
                                  std::span<wire::GrantMapOp> ops);
    // Frames of another domain without a grant (privcmd); the caller must be
    // checked to be dom0 before. Same memory-fd rule.
    std::vector<os::UniqueFd> foreign_map(Domain& caller, ConnectionId connection,
                                          std::span<wire::ForeignMapOp> ops);
    // GNTTABOP_unmap_grant_ref: a handle must be live and `connection`'s.
    void unmap(Domain& caller, ConnectionId connection, std::span<wire::GrantUnmapOp> ops);
    // GNTTABOP_copy, done here between the two memories.
    void copy(Domain& caller, std::span<wire::GrantCopyOp> ops);
    // grant_tables: the granter's memory, grant table and active grants,
    // and `connection`'s shared maptrack (made now if it is the first
    // call), so that the caller maps that granter's grants in its own
    // process. A granter that is the caller itself is refused
    // (GNTST_permission_denied: its active entries stay out of its reach);
    // it maps its own grants with grant_map.
    std::vector<os::UniqueFd> tables(Domain& caller, ConnectionId connection,
                                     wire::GrantTablesOp& op);

    // Releases the maptrack entries `connection` holds (a closed dom0
    // connection), or every entry of the domain (its death). Returns how many.
    std::size_t release_connection(Domain& domain, ConnectionId connection);
    std::size_t release_all(Domain& domain);

    // One pin of `ref` of `granter` by `caller` (map_grant_ref /
    // acquire_grant_for_copy); on okay `frame` is the granted frame. `map`
    // also refuses GTF_sub_page entries, as Xen does for mappings.
    xen::GntSt pin(Domain& granter, xen::GrantRef ref, xen::DomId caller, bool readonly, bool map,
                   std::uint64_t& frame);
    // Drops one pin taken with pin(..., readonly, ...).
    void unpin(Domain& granter, xen::GrantRef ref, bool readonly);

  private:
    // Releases what `connection`'s shared maptrack still holds, then counts
    // again the pins and mappings of every granter it named or was changing
    // (SharedMaptrackHeader::busy_granter); the object goes. Returns how
    // many slots were live.
    std::size_t release_shared(Domain& domain, ConnectionId connection);
    // Sets `granter`'s pins and mapped_by_others to what every maptrack
    // holds; with its active grants' lock held.
    void recount(Domain& granter);
    void add_mapping_of(Domain& granter, int delta);
    std::size_t release_entries(Domain& domain, bool all, ConnectionId connection);
    bool maptrack_full(const Domain& domain) const;
    xen::GrantHandle add_maptrack(Domain& domain, const MaptrackEntry& entry);
    void release_maptrack(Domain& domain, xen::GrantHandle handle);
    // Whether `connection` has not yet been sent `granter`'s memory object.
    static bool needs_memory_fd(const Domain& caller, ConnectionId connection,
                                const Domain& granter);
    // Counts one more mapping of `granter`; the memory fd when `connection`
    // has not had this object yet, else an empty fd.
    os::UniqueFd take_memory_ref(Domain& caller, ConnectionId connection, Domain& granter);

    DomainTable& domains_;
    std::size_t max_maptrack_;
};

}  // namespace pvsim::hypervisor::server
