// One granter's active grant entries (xen/common/grant_table.c: struct
// active_grant_entry and the grant table's lock) in a shared-memory object
// of their own, so that a grant map runs in the mapping process as Xen runs
// it on the calling vCPU (DESIGN.md §3, "Where a grant map runs"). The
// hypervisor creates the object with the domain and shares it with the
// domains that map the domain's grants, never with the granter itself, as
// Xen keeps struct active_grant_entry out of the guest's reach.
//
// Everything here is done under the object's lock: the pins of an entry,
// GTF_reading / GTF_writing in the granter's shared entry (which only a pin
// or an unpin changes once the entry is pinned), whether the granter is
// dying, and how many maptrack entries in any domain name its memory. The
// lock is a robust process-shared mutex: a process that dies holding it
// leaves it to the next taker (EOWNERDEAD). The order of every change keeps
// the pins at least as high as the maptracks say (a pin is counted before
// its maptrack entry is written, and dropped after the entry is cleared), so
// a death mid-change can only leave an entry pinned too long, never
// unpinned under a mapping; the hypervisor then counts the pins again from
// the maptracks once it has released the dead process's (recount).
//
// pthread directly rather than Boost.Interprocess: Boost's process-shared
// mutex has no robust mode, and a mapper that dies must not leave every
// other mapper of that granter, and the hypervisor, blocked for good.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor::wire {

// grant_table.c: struct active_grant_entry, for one entry of the granter's
// grant table; pinned while read_pins + write_pins > 0.
struct ActiveGrant {
    xen::DomId domid;  // the domain that pinned it
    std::uint16_t reserved;
    std::uint32_t frame;
    std::uint32_t read_pins;   // readonly maps and copy sources
    std::uint32_t write_pins;  // writable maps and copy destinations
};
static_assert(sizeof(ActiveGrant) == 16);

struct ActiveGrantsHeader {
    pthread_mutex_t lock;
    std::uint32_t magic;
    std::uint32_t entries;  // as many as the granter's grant table has
    std::uint32_t dying;    // 1 once the granter's process is gone (atomic_ref)
    std::uint32_t reserved;
    // Maptrack entries, in any domain, on the granter's memory: while
    // non-zero a dying domain stays dying (its memory is not freed).
    std::uint64_t mapped_by_others;
};

inline constexpr std::uint32_t kActiveGrantsMagic = 0x70764147;  // "pvAG"

// A view of the object; it owns nothing.
class ActiveGrants {
  public:
    static std::size_t bytes_for(std::uint32_t entries) noexcept;
    // The hypervisor, once, on a zero-filled object of bytes_for(entries).
    static void initialise(std::span<std::byte> object, std::uint32_t entries);
    // A mapped object; throws std::runtime_error if it is not one.
    explicit ActiveGrants(std::span<std::byte> object);

    class Lock {
      public:
        explicit Lock(ActiveGrantsHeader& header);
        Lock(const Lock&) = delete;
        Lock& operator=(const Lock&) = delete;
        ~Lock();
        // Whether the last holder died holding it: the entries may be
        // counted too high until the hypervisor recounts them.
        bool owner_died() const noexcept { return owner_died_; }

      private:
        ActiveGrantsHeader& header_;
        bool owner_died_ = false;
    };
    [[nodiscard]] Lock lock() const { return Lock(*header_); }

    // The rest only with the lock held.
    std::uint32_t size() const noexcept { return header_->entries; }
    ActiveGrant& entry(xen::GrantRef ref) const noexcept { return entries_[ref]; }
    bool dying() const noexcept { return dying_word().load(std::memory_order_relaxed) != 0; }
    void set_dying() const noexcept { dying_word().store(1, std::memory_order_release); }
    // Without the lock: whether the granter was seen dying, a hint for a
    // mapper choosing whether to ask for its tables again (the pin checks
    // dying() again under the lock).
    bool seen_dying() const noexcept { return dying_word().load(std::memory_order_acquire) != 0; }
    std::uint64_t mapped_by_others() const noexcept { return header_->mapped_by_others; }
    void set_mapped_by_others(std::uint64_t count) const noexcept {
        header_->mapped_by_others = count;
    }

    // One pin of `ref` by `caller` (map_grant_ref / acquire_grant_for_copy):
    // on okay `frame` is the granted frame. The first pin checks and marks
    // the shared entry with one compare-and-swap (_set_status_v1); `map`
    // also refuses GTF_sub_page entries, as Xen does for mappings. A frame
    // at or past `memory_frames` is GNTST_bad_page.
    xen::GntSt pin(std::span<xen::GrantEntryV1> grant_entries, std::uint64_t memory_frames,
                   xen::GrantRef ref, xen::DomId caller, bool readonly, bool map,
                   std::uint64_t& frame) const;
    // Drops one pin taken with pin(..., readonly, ...); the last write pin
    // clears GTF_writing, the last pin GTF_reading (unmap_common_complete).
    void unpin(std::span<xen::GrantEntryV1> grant_entries, xen::GrantRef ref, bool readonly) const;
    // Sets the pins of `ref` to what the maptracks hold (recount) and
    // clears the shared entry's flags that no pin backs any more; an entry
    // left with no pin is forgotten.
    void set_pins(std::span<xen::GrantEntryV1> grant_entries, xen::GrantRef ref,
                  std::uint32_t read_pins, std::uint32_t write_pins) const;

  private:
    std::atomic_ref<std::uint32_t> dying_word() const noexcept {
        return std::atomic_ref<std::uint32_t>(header_->dying);
    }

    ActiveGrantsHeader* header_;
    ActiveGrant* entries_;
};

}  // namespace pvsim::hypervisor::wire
