// The granting side of grant tables, which runs in the guest with no
// hypercall, as in Xen (Linux drivers/xen/grant-table.c): fill a v1 entry to
// let one domain map or copy one frame, and end that access again.
//
// Ending access is a compare-and-swap on the entry's flags that fails while
// the other domain has the entry pinned (GTF_reading/GTF_writing); the page
// must then not be reused. Such refs are parked and retried
// (reclaim_deferred()), like Linux's deferred list, and stay allocated until
// their end succeeds: a still-pinned grant is never reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor {

class GrantTable {
  public:
    // `entries` is the domain's whole grant table (its grant-frame object),
    // shared with the hypervisor. Refs below GNTTAB_NR_RESERVED_ENTRIES are
    // never handed out.
    explicit GrantTable(std::span<xen::GrantEntryV1> entries);

    // Grants `domid` access to `frame` (readonly or read/write) and returns
    // the ref (Linux gnttab_grant_foreign_access). Throws std::bad_alloc when
    // every ref is in use. Thread-safe.
    xen::GrantRef grant_access(xen::DomId domid, std::uint64_t frame, bool readonly);

    // Ends the access of `ref` and frees it if the entry is not pinned
    // (gnttab_try_end_foreign_access); returns false, and keeps the ref
    // allocated, while it is. Throws std::invalid_argument for a ref not
    // granted through this object.
    bool try_end_access(xen::GrantRef ref);

    // Like try_end_access, but a pinned ref is parked for reclaim_deferred()
    // instead of failing: the caller must still not reuse its page until the
    // ref shows up in a reclaim_deferred() result.
    // Returns true when access ended at once.
    bool end_access(xen::GrantRef ref);

    // Retries every parked ref; returns those whose access has now ended
    // (they are free again).
    std::vector<xen::GrantRef> reclaim_deferred();
    std::size_t deferred_count() const;

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

    std::span<xen::GrantEntryV1> entries_;
    mutable std::mutex mutex_;
    std::vector<xen::GrantRef> free_list_;
    std::vector<std::uint8_t> in_use_;  // by ref: free, granted, or ended but deferred
    std::vector<xen::GrantRef> deferred_;
};

}  // namespace pvsim::hypervisor
