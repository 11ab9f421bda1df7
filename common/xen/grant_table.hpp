// Grant tables (xen/grant_table.h, domid values from xen/xen.h, Xen 4.17):
// the v1 entry a guest fills to let another domain map or copy one of its
// frames, the flag and status values, and the compare-and-swap on an
// entry's flags by which the hypervisor pins an entry and the guest revokes
// it.
//
// Names of constants follow the header (GTF_readonly is kGtfReadonly,
// GNTST_bad_domain is GntSt::bad_domain); the header's macro names are not
// reused so that this file and the C header can meet in one build.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "common/xen/ring.hpp"

namespace pvsim::xen {

// grant_table.h: grant_ref_t, grant_handle_t; xen.h: domid_t.
using GrantRef = std::uint32_t;
using GrantHandle = std::uint32_t;
using DomId = std::uint16_t;

// xen.h: DOMID_*. Ids from kDomidFirstReserved up are never ordinary
// domains.
inline constexpr DomId kDomidFirstReserved = 0x7FF0;  // DOMID_FIRST_RESERVED
inline constexpr DomId kDomidSelf = 0x7FF0;           // DOMID_SELF
inline constexpr DomId kDomidIo = 0x7FF1;             // DOMID_IO
inline constexpr DomId kDomidXen = 0x7FF2;            // DOMID_XEN
inline constexpr DomId kDomidCow = 0x7FF3;            // DOMID_COW
inline constexpr DomId kDomidInvalid = 0x7FF4;        // DOMID_INVALID
inline constexpr DomId kDomidIdle = 0x7FFF;           // DOMID_IDLE
inline constexpr DomId kDomidMask = 0x7FFF;           // DOMID_MASK

// grant_table.h: struct grant_entry_v1. Written by the granting guest
// (domid and frame, then flags) and read by the hypervisor, which also sets
// and clears GTF_reading / GTF_writing in `flags`; see grant_flags().
struct GrantEntryV1 {
    std::uint16_t flags;  // GTF_* type and sub-flags
    DomId domid;          // the domain being granted access
    std::uint32_t frame;  // the granting guest's frame number
};
static_assert(sizeof(GrantEntryV1) == 8 && offsetof(GrantEntryV1, flags) == 0 &&
              offsetof(GrantEntryV1, domid) == 2 && offsetof(GrantEntryV1, frame) == 4);

// v1 entries in one 4 KiB grant-table frame.
inline constexpr std::size_t kGrantEntriesPerFrame = kXenPageSize / sizeof(GrantEntryV1);
static_assert(kGrantEntriesPerFrame == 512);

// grant_table.h: GNTTAB_NR_RESERVED_ENTRIES and the two named ones, which
// the toolstack may fill before the guest starts.
inline constexpr GrantRef kGnttabNrReservedEntries = 8;
inline constexpr GrantRef kGnttabReservedConsole = 0;
inline constexpr GrantRef kGnttabReservedXenstore = 1;

// Linux include/xen/grant_table.h (5.12+): INVALID_GRANT_REF, a ref no grant
// has; a driver marks with it an entry whose grant it has ended.
inline constexpr GrantRef kInvalidGrantRef = ~GrantRef{0};

// grant_table.h: GTF_* entry types (the low two bits).
inline constexpr std::uint16_t kGtfInvalid = 0;         // GTF_invalid
inline constexpr std::uint16_t kGtfPermitAccess = 1;    // GTF_permit_access
inline constexpr std::uint16_t kGtfAcceptTransfer = 2;  // GTF_accept_transfer
inline constexpr std::uint16_t kGtfTransitive = 3;      // GTF_transitive
inline constexpr std::uint16_t kGtfTypeMask = 3;        // GTF_type_mask
// Sub-flags of GTF_permit_access and GTF_transitive.
inline constexpr std::uint16_t kGtfReadonly = 1u << 2;  // GTF_readonly [guest]
inline constexpr std::uint16_t kGtfReading = 1u << 3;   // GTF_reading [hypervisor]
inline constexpr std::uint16_t kGtfWriting = 1u << 4;   // GTF_writing [hypervisor]
inline constexpr std::uint16_t kGtfPwt = 1u << 5;       // GTF_PWT (x86 cache attributes)
inline constexpr std::uint16_t kGtfPcd = 1u << 6;       // GTF_PCD
inline constexpr std::uint16_t kGtfPat = 1u << 7;       // GTF_PAT
inline constexpr std::uint16_t kGtfSubPage = 1u << 8;   // GTF_sub_page: copy only, no map
// Sub-flags of GTF_accept_transfer.
inline constexpr std::uint16_t kGtfTransferCommitted = 1u << 2;  // GTF_transfer_committed
inline constexpr std::uint16_t kGtfTransferCompleted = 1u << 3;  // GTF_transfer_completed

// grant_table.h: GNTMAP_*, the flags of a map operation.
inline constexpr std::uint32_t kGntmapDeviceMap = 1u << 0;         // GNTMAP_device_map
inline constexpr std::uint32_t kGntmapHostMap = 1u << 1;           // GNTMAP_host_map
inline constexpr std::uint32_t kGntmapReadonly = 1u << 2;          // GNTMAP_readonly
inline constexpr std::uint32_t kGntmapApplicationMap = 1u << 3;    // GNTMAP_application_map
inline constexpr std::uint32_t kGntmapContainsPte = 1u << 4;       // GNTMAP_contains_pte
inline constexpr std::uint32_t kGntmapGuestAvailMask = ~0u << 16;  // GNTMAP_guest_avail_mask

// grant_table.h: GNTCOPY_*, which side of a copy names a grant reference.
inline constexpr std::uint16_t kGntcopySourceGref = 1u << 0;  // GNTCOPY_source_gref
inline constexpr std::uint16_t kGntcopyDestGref = 1u << 1;    // GNTCOPY_dest_gref

// grant_table.h: GNTST_*, the per-operation status of a grant-table
// operation (`enum grant_status`).
enum class GntSt : std::int16_t {
    okay = 0,
    general_error = -1,
    bad_domain = -2,
    bad_gntref = -3,
    bad_handle = -4,
    bad_virt_addr = -5,
    bad_dev_addr = -6,
    no_device_space = -7,
    permission_denied = -8,
    bad_page = -9,
    bad_copy_arg = -10,
    address_too_big = -11,
    eagain = -12,
    no_space = -13,
};

// The header's name of a status ("GNTST_bad_domain"); "GNTST_unknown" for
// values it does not define.
constexpr std::string_view name(GntSt status) noexcept {
    switch (status) {
        case GntSt::okay:
            return "GNTST_okay";
        case GntSt::general_error:
            return "GNTST_general_error";
        case GntSt::bad_domain:
            return "GNTST_bad_domain";
        case GntSt::bad_gntref:
            return "GNTST_bad_gntref";
        case GntSt::bad_handle:
            return "GNTST_bad_handle";
        case GntSt::bad_virt_addr:
            return "GNTST_bad_virt_addr";
        case GntSt::bad_dev_addr:
            return "GNTST_bad_dev_addr";
        case GntSt::no_device_space:
            return "GNTST_no_device_space";
        case GntSt::permission_denied:
            return "GNTST_permission_denied";
        case GntSt::bad_page:
            return "GNTST_bad_page";
        case GntSt::bad_copy_arg:
            return "GNTST_bad_copy_arg";
        case GntSt::address_too_big:
            return "GNTST_address_too_big";
        case GntSt::eagain:
            return "GNTST_eagain";
        case GntSt::no_space:
            return "GNTST_no_space";
    }
    return "GNTST_unknown";
}

// The message Xen gives for a status (grant_table.h: GNTTABOP_error_msgs,
// indexed by -status), for errors shown to people; "unknown grant status"
// for values outside the table.
constexpr std::string_view message(GntSt status) noexcept {
    constexpr std::string_view kMessages[] = {
        "okay",
        "undefined error",
        "unrecognised domain id",
        "invalid grant reference",
        "invalid mapping handle",
        "invalid virtual address",
        "invalid device address",
        "no spare translation slot in the I/O MMU",
        "permission denied",
        "bad page",
        "copy arguments cross page boundary",
        "page address size too large",
        "operation not done; try again",
        "out of space",
    };
    const int index = -static_cast<int>(status);
    if (index < 0 || index >= static_cast<int>(std::size(kMessages))) {
        return "unknown grant status";
    }
    return kMessages[index];
}

// The flags of an entry as an atomic: guest and hypervisor both change them
// while the other may be looking (grant_table.h, "accessing and updating
// grant-table entries in a concurrency-safe manner").
inline std::atomic_ref<std::uint16_t> grant_flags(GrantEntryV1& entry) noexcept {
    static_assert(std::atomic_ref<std::uint16_t>::is_always_lock_free);
    static_assert(std::atomic_ref<std::uint16_t>::required_alignment <= alignof(GrantEntryV1));
    return std::atomic_ref<std::uint16_t>(entry.flags);
}

// One compare-and-swap of the flags (Xen's and Linux's cmpxchg on the
// entry): replaces them with `desired` if they still equal `expected`,
// else loads the current flags into `expected` and returns false.
// Sequentially consistent, like the locked instruction it stands for.
//
// A pin that checks `domid` must read it again once its swap has succeeded:
// between its first look and the swap the guest may have revoked the entry
// and granted it, with the same flags, to another domain. (Xen closes that
// gap by swapping flags and domid together as one 32-bit word.)
inline bool grant_flags_compare_exchange(GrantEntryV1& entry, std::uint16_t& expected,
                                         std::uint16_t desired) noexcept {
    return grant_flags(entry).compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
}

// Guest side, "Introducing a valid entry into the grant table": domid and
// frame first, then (after the write barrier: a release store) the flags
// that make the entry valid. The entry must be unused (flags 0).
inline void grant_entry_publish(GrantEntryV1& entry, DomId domid, std::uint32_t frame,
                                std::uint16_t flags) noexcept {
    entry.domid = domid;
    entry.frame = frame;
    grant_flags(entry).store(flags, std::memory_order_release);
}

// Guest side, "Invalidating an unused GTF_permit_access entry": clears the
// flags with a compare-and-swap that only succeeds while the hypervisor has
// the entry neither GTF_reading nor GTF_writing. False means the frame is
// still mapped by the other domain and must not be reused yet (Linux
// gnttab_try_end_foreign_access).
inline bool grant_entry_try_end_access(GrantEntryV1& entry) noexcept {
    std::uint16_t flags = grant_flags(entry).load(std::memory_order_relaxed);
    do {
        if ((flags & (kGtfReading | kGtfWriting)) != 0) {
            return false;
        }
    } while (!grant_flags_compare_exchange(entry, flags, 0));
    return true;
}

}  // namespace pvsim::xen
