// The shadow table: what blkfront remembers of each request it put on the
// ring, keyed by the request's id (Linux xen-blkfront.c: struct
// blk_shadow, get_id_from_freelist / add_id_to_freelist). The id is the
// only thing a response carries back, so it is also what a response is
// checked against (response_check.hpp): an id is valid only while its entry
// is pending.
//
// Ids are slot numbers 0 .. size-1 taken from a free list; an entry keeps
// the request as written to the ring (to check the response's operation),
// the grant refs of its segments and indirect frames (to end access once
// answered), the pool grants it borrowed (to copy a read's data out of and
// give back to the pool), and the block request it is part of,
// which blkif_recover issues again after a reconnect.
//
// Not thread-safe: the data plane guards it with its ring lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/xen/blkif.hpp"
#include "frontend/blkfront/request_builder.hpp"
#include "frontend/block_device.hpp"
#include "frontend/pending_io.hpp"

namespace pvsim::frontend::blkfront {

using GrantRefs = std::vector<xen::GrantRef>;

// A page of the ring's own grant pool (grant_pool.hpp, Linux's struct
// grant): data is copied through it, and its grant is kept between requests
// with persistent grants. kInvalidGrantRef while it has none.
struct PoolGrant {
    hypervisor::Gfn gfn = 0;
    xen::GrantRef ref = xen::kInvalidGrantRef;
};

// An indirect frame of a request without a grant pool: a page of our
// own, granted for that request only.
struct IndirectFrame {
    hypervisor::Gfn gfn = 0;
    xen::GrantRef ref = 0;
};

struct ShadowEntry {
    xen::BlkifRequest request{};        // as written to the ring
    GrantRefs grants;                   // per-request grants of data pages, ended when answered
    std::vector<SegmentPlan> segments;  // the caller's pages (for copying reads out)
    std::vector<PoolGrant> pooled;      // borrowed from the pool, by segment then frame
    std::vector<IndirectFrame> indirect_frames;  // per-request indirect frames
    std::shared_ptr<PendingIo> io;
};

class ShadowTable {
  public:
    // One entry per ring slot (BLK_RING_SIZE).
    explicit ShadowTable(std::size_t size);

    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t in_use() const noexcept { return entries_.size() - free_.size(); }
    bool full() const noexcept { return free_.empty(); }

    // A free id, now pending, its entry reset; nullopt when every id is in
    // use.
    std::optional<std::uint64_t> take();

    // True if `id` names an entry that awaits its response.
    bool pending(std::uint64_t id) const noexcept { return id < entries_.size() && pending_[id]; }

    // The entry of a pending id; std::out_of_range otherwise.
    ShadowEntry& at(std::uint64_t id);
    const ShadowEntry& at(std::uint64_t id) const;

    // Frees a pending id and hands back its entry; std::out_of_range if the
    // id is not pending.
    ShadowEntry release(std::uint64_t id);

    // Every pending id, lowest first (to fail them all when the device
    // goes).
    std::vector<std::uint64_t> pending_ids() const;

  private:
    std::vector<ShadowEntry> entries_;
    std::vector<bool> pending_;
    std::vector<std::uint64_t> free_;  // LIFO, lowest id on top at first
};

}  // namespace pvsim::frontend::blkfront
