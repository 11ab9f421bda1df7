// The granting side of grant tables, which runs in the guest with no
// hypercall, as in Xen (Linux drivers/xen/grant-table.c): fill a v1 entry to
// let one domain map or copy one frame, and end that access again.
//
// Ending access is a compare-and-swap on the entry's flags that fails while
// the other domain has the entry pinned (GTF_reading/GTF_writing); the page
// must then not be reused. Such refs are parked with their page on a
// deferred list and stay allocated until their end succeeds: a still-pinned
// grant, or its page, is never reused (XSA-396). As Linux's grant-table.c
// does (6.1 with the 6.5 reclaim fix backported to stable:
// gnttab_add_deferred, gnttab_handle_deferred on deferred_timer), a
// timer retries the list every second (HZ), at most free_per_iteration (10)
// entries a pass, and frees each page once its grant has ended; an entry
// still pinned after 60 passes is logged once ("still pending", Linux's
// warn_delay). reclaim_deferred() runs a whole pass at once, for a caller
// that knows the other end has just let go (the backend's Closed). The
// timer is a thread of this object, started when the first entry is parked
// and stopped with it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor {

// How the deferred list is retried, Linux's by default (grant-table.c): one
// pass a second, ten entries a pass (free_per_iteration), "still pending"
// after 60 passes (warn_delay).
struct ReclaimTiming {
    std::chrono::milliseconds period{1000};
    std::size_t free_per_iteration = 10;
    std::uint16_t warn_delay = 60;
};

class GrantTable {
  public:
    // Frees a page of the domain's memory once its deferred grant has ended
    // (DomainMemory::free_page); called on the reclaim timer's thread or in
    // reclaim_deferred(), never with this object's lock held.
    using FreePage = std::function<void(std::uint64_t gfn)>;

    // `entries` is the domain's whole grant table (its grant-frame object),
    // shared with the hypervisor. Refs below GNTTAB_NR_RESERVED_ENTRIES are
    // never handed out.
    explicit GrantTable(std::span<xen::GrantEntryV1> entries, FreePage free_page = {},
                        ReclaimTiming timing = {});
    ~GrantTable();
    GrantTable(const GrantTable&) = delete;
    GrantTable& operator=(const GrantTable&) = delete;

    // Grants `domid` access to `frame` (readonly or read/write) and returns
    // the ref (Linux gnttab_grant_foreign_access). Throws std::bad_alloc when
    // every ref is in use. Thread-safe.
    xen::GrantRef grant_access(xen::DomId domid, std::uint64_t frame, bool readonly);

    // Ends the access of `ref` and frees it if the entry is not pinned
    // (gnttab_try_end_foreign_access); returns false, and keeps the ref
    // allocated, while it is. Throws std::invalid_argument for a ref not
    // granted through this object.
    bool try_end_access(xen::GrantRef ref);

    // Like try_end_access, but a pinned ref is parked on the deferred list
    // instead of failing (Linux gnttab_end_foreign_access), with `page`, the
    // frame it granted, when the caller hands the page over: that page is
    // then freed (FreePage) once the access has ended, and the caller must
    // not touch it again. Without `page` the caller keeps its page, and must
    // not reuse it until the ref shows up in a reclaim_deferred() result.
    // Returns true when access ended at once (`page` is then the caller's
    // to free).
    bool end_access(xen::GrantRef ref, std::optional<std::uint64_t> page = std::nullopt);

    // Retries every parked ref now; returns those whose access has ended
    // (they are free again, and their pages freed).
    std::vector<xen::GrantRef> reclaim_deferred();
    std::size_t deferred_count() const;
    // Pages freed after their deferred grant ended, since the start.
    std::uint64_t deferred_pages_freed() const;

    std::size_t capacity() const noexcept { return entries_.size(); }
    std::size_t free_count() const;

    // The entry, for tests and diagnostics.
    const xen::GrantEntryV1& entry(xen::GrantRef ref) const {
        if (ref >= entries_.size()) {
            throw std::out_of_range("grant ref " + std::to_string(ref) + " out of range");
        }
        return entries_[ref];
    }

  private:
    // Throws std::invalid_argument unless `ref` is granted and not yet ended.
    // Called with mutex_ held.
    void check_granted(xen::GrantRef ref) const;

    // Linux's struct deferred_entry.
    struct Deferred {
        xen::GrantRef ref;
        std::optional<std::uint64_t> page;
        std::uint16_t warn_delay;
    };
    // One pass over at most `limit` parked entries (0: all of them), in
    // list order, each retried once (gnttab_handle_deferred); returns the
    // refs ended. Takes mutex_ itself.
    std::vector<xen::GrantRef> reclaim_pass(std::size_t limit);
    void run_reclaim_timer(std::stop_token stop);

    std::span<xen::GrantEntryV1> entries_;
    FreePage free_page_;
    ReclaimTiming timing_;
    mutable std::mutex mutex_;
    std::vector<xen::GrantRef> free_list_;
    std::vector<std::uint8_t> in_use_;  // by ref: free, granted, or ended but deferred
    std::deque<Deferred> deferred_;
    std::uint64_t pages_freed_ = 0;
    std::condition_variable_any parked_;  // the timer waits on it for work
    // Last: stopped and joined first, before the list it works on goes.
    std::jthread reclaimer_;
};

}  // namespace pvsim::hypervisor
