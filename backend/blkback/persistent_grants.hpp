// The persistent grants of one ring (Linux xen-blkback/blkback.c:
// get_persistent_gnt, add_persistent_gnt, put_persistent_gnt,
// purge_persistent_gnt, free_persistent_gnts): when both ends said
// feature-persistent=1 the frontend keeps granting the same pages, and the
// backend keeps their mappings from one request to the next, so that in
// steady state no grant is mapped or unmapped.
//
// Bounded as Linux bounds them (xen_blkif_max_pgrants, 1056 per ring): a
// grant met when the table is full is mapped for its request only, and the
// table remembers it overflowed. purge(), at most every kPurgeInterval
// (LRU_INTERVAL), drops grants no request is using: always those unused
// for the timeout (xen_blkif_pgrant_timeout, 60 s), however few the grants;
// then, when the table is over its bound or overflowed and that was not
// enough, the least recently used, down to 5% under the bound
// (LRU_PERCENT_CLEAN; at least one grant). A grant a request holds is never
// dropped.
//
// A grant already in use by another request in flight ("requesting a grant
// already in use") is not shared: get() says so and the caller maps it for
// that request only, as Linux does. Pure bookkeeping: the caller maps and
// unmaps. One ring thread owns it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/xen/grant_table.hpp"

namespace pvsim::backend::blkback {

class PersistentGrants {
  public:
    using Clock = std::chrono::steady_clock;

    // xen_blkif_max_pgrants' default.
    static constexpr std::size_t kDefaultMax = 1056;
    // LRU_INTERVAL, LRU_PERCENT_CLEAN, xen_blkif_pgrant_timeout's default.
    static constexpr std::chrono::milliseconds kPurgeInterval{100};
    static constexpr unsigned kPercentClean = 5;
    static constexpr std::chrono::seconds kDefaultTimeout{60};

    struct Grant {
        xen::GrantHandle handle = 0;
        std::byte* page = nullptr;
        bool active = false;
        Clock::time_point last_used{};
    };

    enum class Lookup { absent, found, in_use };

    explicit PersistentGrants(std::size_t max = kDefaultMax,
                              std::chrono::milliseconds timeout = kDefaultTimeout)
        : max_(max), timeout_(timeout) {}

    std::size_t size() const noexcept { return grants_.size(); }
    std::size_t max() const noexcept { return max_; }
    std::size_t active() const noexcept { return active_; }

    // get_persistent_gnt: on `found`, *page is the mapped page and the grant
    // is now active until put(ref).
    Lookup get(xen::GrantRef ref, std::byte** page);
    // Whether add() would keep a new grant (else the caller unmaps it after
    // its request, and the table notes the overflow).
    bool has_room() noexcept;
    // add_persistent_gnt: a grant just mapped for a request, active.
    void add(xen::GrantRef ref, xen::GrantHandle handle, std::byte* page);
    // put_persistent_gnt: the request is done with it.
    void put(xen::GrantRef ref, Clock::time_point now = Clock::now());

    // purge_persistent_gnt, if due at `now` (every kPurgeInterval): the
    // handles to unmap, their grants gone from the table.
    std::vector<xen::GrantHandle> purge(Clock::time_point now = Clock::now());
    // free_persistent_gnts: every grant not in use, for the final unmap.
    std::vector<xen::GrantHandle> take_all();

  private:
    std::size_t max_;
    std::chrono::milliseconds timeout_;
    std::unordered_map<xen::GrantRef, Grant> grants_;
    std::size_t active_ = 0;
    bool overflow_ = false;
    Clock::time_point next_purge_{};
};

}  // namespace pvsim::backend::blkback
