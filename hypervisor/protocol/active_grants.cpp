#include "hypervisor/protocol/active_grants.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace pvsim::hypervisor::wire {
namespace {

using xen::GntSt;

// _set_status_v1 gives up after this many lost races with the guest
// ("Shared grant entry is unstable").
constexpr int kPinRetries = 4;

// The {flags, domid} half of a v1 entry as one word, so that flags and domid
// are checked and changed together (grant_table.c: union grant_combo).
// Flags are the low 16 bits on a little-endian machine.
std::atomic_ref<std::uint32_t> flags_and_domid(xen::GrantEntryV1& entry) noexcept {
    static_assert(std::atomic_ref<std::uint32_t>::required_alignment <= alignof(xen::GrantEntryV1));
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(&entry));
}

// grant_table.c: _set_status_v1. Marks the entry GTF_reading (and
// GTF_writing for a write pin) with a compare-and-swap; while the entry is
// not yet pinned also checks its type and that it is granted to `caller`.
GntSt set_status_v1(xen::GrantEntryV1& entry, xen::DomId caller, bool readonly, bool map,
                    bool pinned) {
    const std::uint16_t type_mask = xen::kGtfTypeMask | (map ? xen::kGtfSubPage : 0);
    auto word = flags_and_domid(entry);
    std::uint32_t current = word.load(std::memory_order_acquire);
    for (int retries = 0;; ++retries) {
        const auto flags = static_cast<std::uint16_t>(current & 0xFFFFu);
        const auto domid = static_cast<xen::DomId>(current >> 16);
        if (!pinned && ((flags & type_mask) != xen::kGtfPermitAccess || domid != caller)) {
            return GntSt::general_error;  // "Bad flags (%x) or dom (%d)"
        }
        std::uint16_t desired_flags = flags | xen::kGtfReading;
        if (!readonly) {
            if ((flags & xen::kGtfReadonly) != 0) {
                return GntSt::general_error;  // "Attempt to write-pin a r/o grant entry"
            }
            desired_flags |= xen::kGtfWriting;
        }
        const std::uint32_t desired = (current & 0xFFFF0000u) | desired_flags;
        if (word.compare_exchange_strong(current, desired, std::memory_order_seq_cst)) {
            return GntSt::okay;
        }
        if (retries == kPinRetries) {
            return GntSt::general_error;  // "Shared grant entry is unstable"
        }
    }
}

void clear_flags(std::span<xen::GrantEntryV1> grant_entries, xen::GrantRef ref,
                 std::uint16_t clear) noexcept {
    if (clear != 0 && ref < grant_entries.size()) {
        xen::grant_flags(grant_entries[ref])
            .fetch_and(static_cast<std::uint16_t>(~clear), std::memory_order_seq_cst);
    }
}

void check(int error, const char* what) {
    if (error != 0) {
        throw std::system_error(error, std::generic_category(), what);
    }
}

}  // namespace

std::size_t ActiveGrants::bytes_for(std::uint32_t entries) noexcept {
    return sizeof(ActiveGrantsHeader) + std::size_t{entries} * sizeof(ActiveGrant);
}

void ActiveGrants::initialise(std::span<std::byte> object, std::uint32_t entries) {
    if (object.size() < bytes_for(entries)) {
        throw std::invalid_argument("active grants: the object is too small");
    }
    auto* header = reinterpret_cast<ActiveGrantsHeader*>(object.data());
    pthread_mutexattr_t attributes;
    check(::pthread_mutexattr_init(&attributes), "pthread_mutexattr_init");
    check(::pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED),
          "pthread_mutexattr_setpshared");
    check(::pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST),
          "pthread_mutexattr_setrobust");
    const int made = ::pthread_mutex_init(&header->lock, &attributes);
    ::pthread_mutexattr_destroy(&attributes);
    check(made, "pthread_mutex_init");
    header->entries = entries;
    header->magic = kActiveGrantsMagic;
}

ActiveGrants::ActiveGrants(std::span<std::byte> object)
    : header_(reinterpret_cast<ActiveGrantsHeader*>(object.data())),
      entries_(reinterpret_cast<ActiveGrant*>(object.data() + sizeof(ActiveGrantsHeader))) {
    if (object.size() < sizeof(ActiveGrantsHeader) || header_->magic != kActiveGrantsMagic ||
        object.size() < bytes_for(header_->entries)) {
        throw std::runtime_error("active grants: the object of " + std::to_string(object.size()) +
                                 " bytes is not an active grant table");
    }
}

ActiveGrants::Lock::Lock(ActiveGrantsHeader& header) : header_(header) {
    const int locked = ::pthread_mutex_lock(&header_.lock);
    if (locked == EOWNERDEAD) {
        // The holder died mid-change: what it left is counted too high at
        // worst (the order of changes above), which the hypervisor's recount
        // after it releases the dead connection puts right.
        owner_died_ = true;
        check(::pthread_mutex_consistent(&header_.lock), "pthread_mutex_consistent");
        return;
    }
    check(locked, "pthread_mutex_lock (active grants)");
}

ActiveGrants::Lock::~Lock() {
    ::pthread_mutex_unlock(&header_.lock);
}

GntSt ActiveGrants::pin(std::span<xen::GrantEntryV1> grant_entries, std::uint64_t memory_frames,
                        xen::GrantRef ref, xen::DomId caller, bool readonly, bool map,
                        std::uint64_t& frame) const {
    if (ref >= grant_entries.size() || ref >= size()) {
        return GntSt::bad_gntref;  // "Bad ref %#x for d%d"
    }
    xen::GrantEntryV1& shared = grant_entries[ref];
    ActiveGrant& active = entry(ref);
    const bool pinned = active.read_pins + active.write_pins > 0;
    // map_grant_ref: "If already pinned, check the active domid".
    if (pinned && active.domid != caller) {
        return GntSt::general_error;
    }
    // A first pin, or the first write pin of an entry pinned for reading
    // only, goes to the shared entry.
    if (!pinned || (!readonly && active.write_pins == 0)) {
        const GntSt status = set_status_v1(shared, caller, readonly, map, pinned);
        if (status != GntSt::okay) {
            return status;
        }
    }
    if (!pinned) {
        // The frame is read after the pin, so the guest can no longer
        // change it under the mapping (it may only write it before granting).
        const std::uint32_t granted =
            std::atomic_ref<std::uint32_t>(shared.frame).load(std::memory_order_acquire);
        if (granted >= memory_frames) {
            clear_flags(grant_entries, ref, xen::kGtfReading | xen::kGtfWriting);
            return GntSt::bad_page;
        }
        active = ActiveGrant{caller, 0, granted, 0, 0};
    }
    ++(readonly ? active.read_pins : active.write_pins);
    frame = active.frame;
    return GntSt::okay;
}

void ActiveGrants::unpin(std::span<xen::GrantEntryV1> grant_entries, xen::GrantRef ref,
                         bool readonly) const {
    if (ref >= size()) {
        return;
    }
    ActiveGrant& active = entry(ref);
    std::uint32_t& pins = readonly ? active.read_pins : active.write_pins;
    if (pins == 0) {
        return;
    }
    set_pins(grant_entries, ref, readonly ? pins - 1 : active.read_pins,
             readonly ? active.write_pins : pins - 1);
}

void ActiveGrants::set_pins(std::span<xen::GrantEntryV1> grant_entries, xen::GrantRef ref,
                            std::uint32_t read_pins, std::uint32_t write_pins) const {
    if (ref >= size()) {
        return;
    }
    ActiveGrant& active = entry(ref);
    const bool was_writing = active.write_pins > 0;
    const bool was_pinned = was_writing || active.read_pins > 0;
    active.read_pins = read_pins;
    active.write_pins = write_pins;
    std::uint16_t clear = 0;
    if (was_writing && write_pins == 0) {
        clear |= xen::kGtfWriting;
    }
    if (was_pinned && read_pins == 0 && write_pins == 0) {
        clear |= xen::kGtfReading | xen::kGtfWriting;
        active = ActiveGrant{};
    }
    clear_flags(grant_entries, ref, clear);
}

}  // namespace pvsim::hypervisor::wire
