// How a blkif request's pages reach the backend (Linux xen-blkfront.c:
// get_grant, get_free_grant, fill_grant_buffer, blkif_setup_rw_req_grant,
// and the persistent part of blkif_completion and blkif_free). Kept apart
// from the ring so that the grant policy - a grant per segment for this
// request only, or data copied through a pool of pages granted once - can be
// read and changed without the submission and completion paths.
//
// Without persistent grants every segment's own page is granted for the
// request, read/write whatever the direction (as Linux grants them: the
// backend may map a write's pages read-only), and so is each indirect frame,
// a page of our own. With them (feature-persistent) the pages come from the
// ring's PersistentGrantPool, as Linux's rinfo->grants list: a write's data
// is copied in before it is issued, a read's copied out when answered, and
// indirect frames are pool pages too, so in steady state no grant is made or
// ended per request.
//
// Nothing here locks: the data plane (blkfront_queue.hpp) calls it under
// its ring lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/xen/blkif.hpp"
#include "frontend/blkfront/request_builder.hpp"
#include "frontend/blkfront/shadow.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

// The persistent grants of one ring: pages of ours granted to the backend
// for the ring's life, at most what the ring can have in flight (each
// request holds its own until answered), allocated as needed.
class PersistentGrantPool {
  public:
    // `name` (the device, for logs) must outlive the pool.
    PersistentGrantPool(hypervisor::Hypervisor& hypervisor, xen::DomId backend_id,
                        const std::string& name) noexcept
        : hypervisor_(hypervisor), backend_id_(backend_id), name_(name) {}
    PersistentGrantPool(const PersistentGrantPool&) = delete;
    PersistentGrantPool& operator=(const PersistentGrantPool&) = delete;

    // get_free_grant: a free page of the pool, granted now if it has none.
    // Throws std::bad_alloc when no page or grant is left.
    PersistentGrant take();
    // Gives `grants` back to the pool and empties it (a request answered).
    void give_back(std::vector<PersistentGrant>& grants);
    // blkif_free: every free grant ends with the ring, its page freed (parked
    // instead while the backend still maps it).
    void free_all();
    // Grants in the pool now (a gauge, read without the ring lock).
    std::uint64_t granted() const noexcept { return gauge_.load(std::memory_order_relaxed); }

  private:
    hypervisor::Hypervisor& hypervisor_;
    const xen::DomId backend_id_;
    const std::string& name_;
    std::vector<PersistentGrant> free_;
    std::size_t size_ = 0;
    std::atomic<std::uint64_t> gauge_{0};
};

// blkif_queue_rw_req's granting (blkif_setup_rw_req_grant for each segment,
// then the indirect frames): grants what `plan` needs to `backend_id` - from
// `pool` when persistent grants are in use (non-null), else one grant per
// page - and fills `entry` with the grants to end or give back and the ring
// request (id 0) for `handle`. Returns the segments copied into pool pages.
// Throws std::bad_alloc when the grant table or memory is full; `entry` then
// holds what was granted so far, none of it seen by the backend.
std::uint64_t grant_request(hypervisor::Hypervisor& hypervisor, xen::DomId backend_id,
                            xen::BlkifVdev handle, const BlkifRequestPlan& plan,
                            PersistentGrantPool* pool, ShadowEntry& entry);

// blkif_completion for a read through persistent grants: its data is copied
// out of the pool pages into the caller's. Returns the segments copied.
std::uint64_t copy_read_out(hypervisor::DomainMemory& memory, const ShadowEntry& entry);

// gnttab_end_foreign_access: ends a grant the backend may still map; one
// still pinned is parked in the grant table, never reused while pinned, and
// `page` (ours, freed once it ends) stays allocated for the same reason.
void end_or_park_grant(hypervisor::Hypervisor& hypervisor, xen::GrantRef ref,
                       std::optional<hypervisor::Gfn> page);

}  // namespace pvsim::frontend::blkfront
