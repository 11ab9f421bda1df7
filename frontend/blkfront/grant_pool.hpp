// The pages one ring grants in place of the caller's (Linux xen-blkfront.c:
// rinfo->grants and struct grant, with fill_grant_buffer, get_free_grant,
// get_grant, the grant half of blkif_completion, purge_persistent_grants
// and blkif_free_ring). Linux uses them whenever info->bounce is set: with
// persistent grants (blkfront_gather_backend_features sets bounce with
// feature_persistent), or when the toolstack wrote trusted=0 in the
// frontend's directory (talk_to_blkback, Linux 5.19+, XSA-403). The
// backend then never sees a page of the caller's I/O buffer, only these,
// so nothing else sharing a page with a request's data leaks to it.
//
// Each entry is a page of ours and its grant, or kInvalidGrantRef when it
// has none; take() grants it again then (get_grant). When an entry comes
// back (give_back):
//  - with persistent grants it keeps its grant: the backend keeps it mapped
//    from one request to the next. Linux also ends, at each completion, a
//    grant the backend no longer maps (gnttab_query_foreign_access); pvsim
//    leaves that to purge(), so that the completion path makes no
//    grant-table call in steady state;
//  - without them (bounce only) its grant ends, unless the backend still
//    maps it: then it stays granted (its page is never lent to another
//    request's data while the backend can write it: the ring fails, as
//    Linux 6.1's blkif_completion does, "backend has not unmapped grant").
// purge() is purge_persistent_grants (Linux 4.19+): every free entry whose
// grant the backend has let go (blkback drops persistent grants idle for
// pgrant_timeout) is ended, gnttab_try_end_foreign_access, so that the
// grant-table entry is free again; the page stays and is granted afresh on
// its next use. A grant the backend still maps is left alone.
//
// Nothing here locks: one ring owns its pool, and the data plane calls it
// under its ring lock (blkfront_queue.hpp), the periodic purge included.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontend/blkfront/shadow.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

class GrantPool {
  public:
    // `persistent`: feature-persistent was negotiated. `name` (the device,
    // for logs) must outlive the pool.
    GrantPool(hypervisor::Hypervisor& hypervisor, xen::DomId backend_id, const std::string& name,
              bool persistent) noexcept
        : hypervisor_(hypervisor), backend_id_(backend_id), name_(name), persistent_(persistent) {}
    GrantPool(const GrantPool&) = delete;
    GrantPool& operator=(const GrantPool&) = delete;

    bool persistent() const noexcept { return persistent_; }

    // get_free_grant + get_grant: a free page of the pool, granted to the
    // backend (now, if it has no grant); a new page when none is free (the
    // pool grows as the ring fills, up to what it can have in flight).
    // Throws std::bad_alloc when no page or grant is left.
    PoolGrant take();
    // blkif_completion: gives `grants` back to the pool (see above) and
    // empties it; without persistent grants, the first grant the backend
    // still maps, if any (the data plane then fails: see blkfront_ring.hpp).
    std::optional<xen::GrantRef> give_back(std::vector<PoolGrant>& grants);
    // purge_persistent_grants: ends the grants of free entries the backend
    // no longer maps; returns how many.
    std::size_t purge();
    // blkif_free_ring: every free entry goes, its grant ended (parked in the
    // grant table while the backend still maps it, its page then kept).
    void free_all();

    // Gauges, read without the ring lock: grants the pool holds now (free
    // or lent to requests), and its pages.
    std::uint64_t granted() const noexcept {
        return granted_gauge_.load(std::memory_order_relaxed);
    }
    std::uint64_t pages() const noexcept { return pages_gauge_.load(std::memory_order_relaxed); }

  private:
    // Ends `grant`'s access if the backend does not map it; true (and its
    // ref invalid) when it has no grant any more.
    bool try_end(PoolGrant& grant);
    void publish_gauges() noexcept;

    hypervisor::Hypervisor& hypervisor_;
    const xen::DomId backend_id_;
    const std::string& name_;
    const bool persistent_;
    std::vector<PoolGrant> free_;  // LIFO: the most recently used first
    std::size_t pages_ = 0;
    std::size_t granted_ = 0;
    std::atomic<std::uint64_t> pages_gauge_{0};
    std::atomic<std::uint64_t> granted_gauge_{0};
};

}  // namespace pvsim::frontend::blkfront
