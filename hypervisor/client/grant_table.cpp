#include "hypervisor/client/grant_table.hpp"

#include <algorithm>
#include <limits>
#include <new>

#include <spdlog/spdlog.h>

namespace pvsim::hypervisor {
namespace {

// What in_use_ records of each ref.
enum RefState : std::uint8_t {
    kFree = 0,
    kGranted = 1,
    kDeferred = 2,  // end_access asked while pinned: parked until it ends
};

}  // namespace

GrantTable::GrantTable(std::span<xen::GrantEntryV1> entries, FreePage free_page,
                       ReclaimTiming timing)
    : entries_(entries), free_page_(std::move(free_page)), timing_(timing) {
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

GrantTable::~GrantTable() {
    if (reclaimer_.joinable()) {
        reclaimer_.request_stop();
        reclaimer_.join();
    }
}

bool GrantTable::end_access(xen::GrantRef ref, std::optional<std::uint64_t> page) {
    std::lock_guard lock(mutex_);
    check_granted(ref);
    if (xen::grant_entry_try_end_access(entries_[ref])) {
        in_use_[ref] = kFree;
        free_list_.push_back(ref);
        return true;
    }
    // gnttab_add_deferred: the other domain still has it pinned.
    in_use_[ref] = kDeferred;
    deferred_.push_back(Deferred{ref, page, timing_.warn_delay});
    if (!reclaimer_.joinable()) {
        reclaimer_ = std::jthread([this](std::stop_token stop) { run_reclaim_timer(stop); });
    }
    parked_.notify_one();
    return false;
}

std::vector<xen::GrantRef> GrantTable::reclaim_pass(std::size_t limit) {
    std::vector<xen::GrantRef> reclaimed;
    std::vector<std::uint64_t> pages;
    {
        std::lock_guard lock(mutex_);
        const std::size_t count = limit == 0 ? deferred_.size() : std::min(limit, deferred_.size());
        for (std::size_t i = 0; i < count; ++i) {
            Deferred entry = deferred_.front();
            deferred_.pop_front();
            if (xen::grant_entry_try_end_access(entries_[entry.ref])) {
                in_use_[entry.ref] = kFree;
                free_list_.push_back(entry.ref);
                reclaimed.push_back(entry.ref);
                if (entry.page) {
                    pages.push_back(*entry.page);
                }
                continue;
            }
            if (entry.warn_delay != 0 && --entry.warn_delay == 0) {
                // Linux says it with pr_info; a warning here, since a peer
                // holding a page this long is what a user looks for.
                spdlog::warn("grant ref {:#x} still pending: the other domain keeps it mapped",
                             entry.ref);
            }
            deferred_.push_back(entry);
        }
    }
    // Outside the lock: freeing takes the memory's own.
    for (const std::uint64_t page : pages) {
        if (free_page_) {
            free_page_(page);
        }
    }
    std::lock_guard lock(mutex_);
    pages_freed_ += free_page_ ? pages.size() : 0;
    return reclaimed;
}

void GrantTable::run_reclaim_timer(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
        // Armed while the list has entries (deferred_timer), idle otherwise.
        if (!parked_.wait(lock, stop, [this] { return !deferred_.empty(); })) {
            return;
        }
        // A period, whatever is parked meanwhile (add_timer: jiffies + HZ).
        (void)parked_.wait_for(lock, stop, timing_.period, [] { return false; });
        if (stop.stop_requested()) {
            return;
        }
        lock.unlock();
        (void)reclaim_pass(timing_.free_per_iteration);
        lock.lock();
    }
}

std::vector<xen::GrantRef> GrantTable::reclaim_deferred() {
    return reclaim_pass(0);
}

std::size_t GrantTable::deferred_count() const {
    std::lock_guard lock(mutex_);
    return deferred_.size();
}

std::uint64_t GrantTable::deferred_pages_freed() const {
    std::lock_guard lock(mutex_);
    return pages_freed_;
}

std::size_t GrantTable::free_count() const {
    std::lock_guard lock(mutex_);
    return free_list_.size();
}

}  // namespace pvsim::hypervisor
