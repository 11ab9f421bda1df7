#include "hypervisor/client/grant_table.hpp"

#include <algorithm>
#include <limits>
#include <new>

namespace pvsim::hypervisor {
namespace {

// What in_use_ records of each ref.
enum RefState : std::uint8_t {
    kFree = 0,
    kGranted = 1,
    kDeferred = 2,  // end_access asked while pinned: parked until it ends
};

}  // namespace

GrantTable::GrantTable(std::span<xen::GrantEntryV1> entries) : entries_(entries) {
    in_use_.assign(entries_.size(), kFree);
    // Highest first, so that the lowest free ref is handed out first.
    for (std::size_t ref = entries_.size(); ref > xen::kGnttabNrReservedEntries; --ref) {
        free_list_.push_back(static_cast<xen::GrantRef>(ref - 1));
    }
}

xen::GrantRef GrantTable::grant_access(xen::DomId domid, std::uint64_t frame, bool readonly) {
    if (frame > std::numeric_limits<std::uint32_t>::max()) {
        // grant_entry_v1.frame is 32 bits.
        throw std::invalid_argument("frame " + std::to_string(frame) +
                                    " does not fit a v1 grant entry");
    }
    std::lock_guard lock(mutex_);
    if (free_list_.empty()) {
        throw std::bad_alloc();
    }
    const xen::GrantRef ref = free_list_.back();
    free_list_.pop_back();
    in_use_[ref] = kGranted;
    const std::uint16_t flags = xen::kGtfPermitAccess | (readonly ? xen::kGtfReadonly : 0);
    xen::grant_entry_publish(entries_[ref], domid, static_cast<std::uint32_t>(frame), flags);
    return ref;
}

void GrantTable::check_granted(xen::GrantRef ref) const {
    if (ref >= entries_.size() || in_use_[ref] != kGranted) {
        const char* why = ref < xen::kGnttabNrReservedEntries ? "is reserved"
                          : ref >= entries_.size()            ? "is out of range"
                          : in_use_[ref] == kDeferred         ? "already had its access ended"
                                                              : "is not granted";
        throw std::invalid_argument("grant ref " + std::to_string(ref) + " " + why);
    }
}

bool GrantTable::try_end_access(xen::GrantRef ref) {
    std::lock_guard lock(mutex_);
    check_granted(ref);
    if (!xen::grant_entry_try_end_access(entries_[ref])) {
        return false;
    }
    in_use_[ref] = kFree;
    free_list_.push_back(ref);
    return true;
}

bool GrantTable::end_access(xen::GrantRef ref) {
    std::lock_guard lock(mutex_);
    check_granted(ref);
    if (xen::grant_entry_try_end_access(entries_[ref])) {
        in_use_[ref] = kFree;
        free_list_.push_back(ref);
        return true;
    }
    // Linux gnttab_add_deferred: the other domain still has it pinned.
    in_use_[ref] = kDeferred;
    deferred_.push_back(ref);
    return false;
}

std::vector<xen::GrantRef> GrantTable::reclaim_deferred() {
    std::lock_guard lock(mutex_);
    std::vector<xen::GrantRef> reclaimed;
    std::erase_if(deferred_, [&](xen::GrantRef ref) {
        if (!xen::grant_entry_try_end_access(entries_[ref])) {
            return false;
        }
        in_use_[ref] = kFree;
        free_list_.push_back(ref);
        reclaimed.push_back(ref);
        return true;
    });
    return reclaimed;
}

std::size_t GrantTable::deferred_count() const {
    std::lock_guard lock(mutex_);
    return deferred_.size();
}

std::size_t GrantTable::free_count() const {
    std::lock_guard lock(mutex_);
    return free_list_.size();
}

}  // namespace pvsim::hypervisor
