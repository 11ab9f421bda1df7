// pvsim's Xen ABI against Debian's Xen headers: blkif, the ring, grant-table
// entries, the hypercall argument structs pvsim's hypercall wire carries, and
// the event bits in shared_info. Every struct size, field offset and field
// size, every constant, and the ring sizes per page order must be the
// headers' own.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "common/xen/blkif.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/ring.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/protocol/shared_info.hpp"
#include "real_xen.h"

namespace pvsim::xen {
namespace {

namespace wire = hypervisor::wire;

struct Layout {
    std::size_t size;
    std::size_t offset;
    bool operator==(const Layout&) const = default;
};
using Key = std::pair<std::string, std::string>;  // type, field

#define PVSIM_TYPE(name, T) \
    {                       \
        {name, ""}, {       \
            sizeof(T), 0    \
        }                   \
    }
#define PVSIM_FIELD(name, T, field)              \
    {                                            \
        {name, #field}, {                        \
            sizeof(T::field), offsetof(T, field) \
        }                                        \
    }

std::map<Key, Layout> our_layouts() {
    using Entry = BlkifSringEntry;
    constexpr std::size_t slot_offset = ring_entries_offset<BlkifRequest, BlkifResponse>();
    return {
        PVSIM_TYPE("RING_IDX", RingIdx),
        PVSIM_TYPE("grant_ref_t", GrantRef),
        PVSIM_TYPE("grant_handle_t", GrantHandle),
        PVSIM_TYPE("domid_t", DomId),
        PVSIM_TYPE("evtchn_port_t", EvtchnPort),
        PVSIM_TYPE("blkif_vdev_t", BlkifVdev),
        PVSIM_TYPE("blkif_sector_t", BlkifSector),

        PVSIM_FIELD("blkif_sring", SharedRing, req_prod),
        PVSIM_FIELD("blkif_sring", SharedRing, req_event),
        PVSIM_FIELD("blkif_sring", SharedRing, rsp_prod),
        PVSIM_FIELD("blkif_sring", SharedRing, rsp_event),
        {{"blkif_sring", "pvt"}, {sizeof(SharedRing::pvt_pad), offsetof(SharedRing, pvt_pad)}},
        {{"blkif_sring", "__pad"}, {sizeof(SharedRing::pad), offsetof(SharedRing, pad)}},
        {{"blkif_sring", "ring[0]"}, {sizeof(Entry), slot_offset}},

        PVSIM_TYPE("blkif_sring_entry", Entry),
        PVSIM_FIELD("blkif_sring_entry", Entry, req),
        PVSIM_FIELD("blkif_sring_entry", Entry, rsp),

        PVSIM_TYPE("blkif_request_segment", BlkifRequestSegment),
        PVSIM_FIELD("blkif_request_segment", BlkifRequestSegment, gref),
        PVSIM_FIELD("blkif_request_segment", BlkifRequestSegment, first_sect),
        PVSIM_FIELD("blkif_request_segment", BlkifRequestSegment, last_sect),

        PVSIM_TYPE("blkif_request", BlkifRequest),
        PVSIM_FIELD("blkif_request", BlkifRequest, operation),
        PVSIM_FIELD("blkif_request", BlkifRequest, nr_segments),
        PVSIM_FIELD("blkif_request", BlkifRequest, handle),
        PVSIM_FIELD("blkif_request", BlkifRequest, id),
        PVSIM_FIELD("blkif_request", BlkifRequest, sector_number),
        PVSIM_FIELD("blkif_request", BlkifRequest, seg),
        {{"blkif_request", "seg[1]"},
         {sizeof(BlkifRequestSegment), offsetof(BlkifRequest, seg) + sizeof(BlkifRequestSegment)}},

        PVSIM_TYPE("blkif_request_discard", BlkifRequestDiscard),
        PVSIM_FIELD("blkif_request_discard", BlkifRequestDiscard, operation),
        PVSIM_FIELD("blkif_request_discard", BlkifRequestDiscard, flag),
        PVSIM_FIELD("blkif_request_discard", BlkifRequestDiscard, handle),
        PVSIM_FIELD("blkif_request_discard", BlkifRequestDiscard, id),
        PVSIM_FIELD("blkif_request_discard", BlkifRequestDiscard, sector_number),
        PVSIM_FIELD("blkif_request_discard", BlkifRequestDiscard, nr_sectors),

        PVSIM_TYPE("blkif_request_indirect", BlkifRequestIndirect),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, operation),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, indirect_op),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, nr_segments),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, id),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, sector_number),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, handle),
        PVSIM_FIELD("blkif_request_indirect", BlkifRequestIndirect, indirect_grefs),

        PVSIM_TYPE("blkif_response", BlkifResponse),
        PVSIM_FIELD("blkif_response", BlkifResponse, id),
        PVSIM_FIELD("blkif_response", BlkifResponse, operation),
        PVSIM_FIELD("blkif_response", BlkifResponse, status),

        PVSIM_TYPE("grant_entry_v1", GrantEntryV1),
        PVSIM_FIELD("grant_entry_v1", GrantEntryV1, flags),
        PVSIM_FIELD("grant_entry_v1", GrantEntryV1, domid),
        PVSIM_FIELD("grant_entry_v1", GrantEntryV1, frame),

        PVSIM_TYPE("gnttab_map_grant_ref", wire::GrantMapOp),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, host_addr),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, flags),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, ref),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, dom),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, status),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, handle),
        PVSIM_FIELD("gnttab_map_grant_ref", wire::GrantMapOp, dev_bus_addr),
        PVSIM_TYPE("gnttab_unmap_grant_ref", wire::GrantUnmapOp),
        PVSIM_FIELD("gnttab_unmap_grant_ref", wire::GrantUnmapOp, host_addr),
        PVSIM_FIELD("gnttab_unmap_grant_ref", wire::GrantUnmapOp, dev_bus_addr),
        PVSIM_FIELD("gnttab_unmap_grant_ref", wire::GrantUnmapOp, handle),
        PVSIM_FIELD("gnttab_unmap_grant_ref", wire::GrantUnmapOp, status),
        PVSIM_TYPE("gnttab_copy", wire::GrantCopyOp),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, source.u),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, source.domid),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, source.offset),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, dest.u),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, dest.domid),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, dest.offset),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, len),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, flags),
        PVSIM_FIELD("gnttab_copy", wire::GrantCopyOp, status),
        {{"shared_info", "evtchn_pending"}, {wire::kEvtchnWords * 8, wire::kEvtchnPendingOffset}},
        {{"shared_info", "evtchn_mask"}, {wire::kEvtchnWords * 8, wire::kEvtchnMaskOffset}},
    };
}

#undef PVSIM_TYPE
#undef PVSIM_FIELD

template <class E>
long long value_of(E e) {
    return static_cast<long long>(e);
}

std::map<std::string, long long> our_constants() {
    return {
        {"XEN_PAGE_SHIFT", kXenPageShift},

        {"BLKIF_OP_READ", value_of(BlkifOp::read)},
        {"BLKIF_OP_WRITE", value_of(BlkifOp::write)},
        {"BLKIF_OP_WRITE_BARRIER", value_of(BlkifOp::write_barrier)},
        {"BLKIF_OP_FLUSH_DISKCACHE", value_of(BlkifOp::flush_diskcache)},
        {"BLKIF_OP_RESERVED_1", value_of(BlkifOp::reserved_1)},
        {"BLKIF_OP_DISCARD", value_of(BlkifOp::discard)},
        {"BLKIF_OP_INDIRECT", value_of(BlkifOp::indirect)},
        {"BLKIF_MAX_SEGMENTS_PER_REQUEST", kBlkifMaxSegmentsPerRequest},
        {"BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST", kBlkifMaxIndirectPagesPerRequest},
        {"BLKIF_DISCARD_SECURE", kBlkifDiscardSecure},
        {"BLKIF_RSP_EOPNOTSUPP", value_of(BlkifStatus::eopnotsupp)},
        {"BLKIF_RSP_ERROR", value_of(BlkifStatus::error)},
        {"BLKIF_RSP_OKAY", value_of(BlkifStatus::okay)},
        {"VDISK_CDROM", kVdiskCdrom},
        {"VDISK_REMOVABLE", kVdiskRemovable},
        {"VDISK_READONLY", kVdiskReadonly},
        {"segments per indirect frame", kBlkifSegmentsPerIndirectFrame},

        {"DOMID_FIRST_RESERVED", kDomidFirstReserved},
        {"DOMID_SELF", kDomidSelf},
        {"DOMID_IO", kDomidIo},
        {"DOMID_XEN", kDomidXen},
        {"DOMID_COW", kDomidCow},
        {"DOMID_INVALID", kDomidInvalid},
        {"DOMID_IDLE", kDomidIdle},
        {"DOMID_MASK", kDomidMask},

        {"GNTTAB_NR_RESERVED_ENTRIES", kGnttabNrReservedEntries},
        {"GNTTAB_RESERVED_CONSOLE", kGnttabReservedConsole},
        {"GNTTAB_RESERVED_XENSTORE", kGnttabReservedXenstore},
        {"grant entries per frame", kGrantEntriesPerFrame},
        {"GTF_invalid", kGtfInvalid},
        {"GTF_permit_access", kGtfPermitAccess},
        {"GTF_accept_transfer", kGtfAcceptTransfer},
        {"GTF_transitive", kGtfTransitive},
        {"GTF_type_mask", kGtfTypeMask},
        {"GTF_readonly", kGtfReadonly},
        {"GTF_reading", kGtfReading},
        {"GTF_writing", kGtfWriting},
        {"GTF_PWT", kGtfPwt},
        {"GTF_PCD", kGtfPcd},
        {"GTF_PAT", kGtfPat},
        {"GTF_sub_page", kGtfSubPage},
        {"GTF_transfer_committed", kGtfTransferCommitted},
        {"GTF_transfer_completed", kGtfTransferCompleted},
        {"GNTMAP_device_map", kGntmapDeviceMap},
        {"GNTMAP_host_map", kGntmapHostMap},
        {"GNTMAP_readonly", kGntmapReadonly},
        {"GNTMAP_application_map", kGntmapApplicationMap},
        {"GNTMAP_contains_pte", kGntmapContainsPte},
        {"GNTMAP_guest_avail_mask", kGntmapGuestAvailMask},
        {"GNTCOPY_source_gref", kGntcopySourceGref},
        {"GNTCOPY_dest_gref", kGntcopyDestGref},
        {"GNTST_okay", value_of(GntSt::okay)},
        {"GNTST_general_error", value_of(GntSt::general_error)},
        {"GNTST_bad_domain", value_of(GntSt::bad_domain)},
        {"GNTST_bad_gntref", value_of(GntSt::bad_gntref)},
        {"GNTST_bad_handle", value_of(GntSt::bad_handle)},
        {"GNTST_bad_virt_addr", value_of(GntSt::bad_virt_addr)},
        {"GNTST_bad_dev_addr", value_of(GntSt::bad_dev_addr)},
        {"GNTST_no_device_space", value_of(GntSt::no_device_space)},
        {"GNTST_permission_denied", value_of(GntSt::permission_denied)},
        {"GNTST_bad_page", value_of(GntSt::bad_page)},
        {"GNTST_bad_copy_arg", value_of(GntSt::bad_copy_arg)},
        {"GNTST_address_too_big", value_of(GntSt::address_too_big)},
        {"GNTST_eagain", value_of(GntSt::eagain)},
        {"GNTST_no_space", value_of(GntSt::no_space)},

        {"EVTCHN_2L_NR_CHANNELS", kEvtchn2lNrChannels},
        {"EVTCHN_FIFO_NR_CHANNELS", kEvtchnFifoNrChannels},
        {"EVTCHNSTAT_closed", value_of(EvtchnStat::closed)},
        {"EVTCHNSTAT_unbound", value_of(EvtchnStat::unbound)},
        {"EVTCHNSTAT_interdomain", value_of(EvtchnStat::interdomain)},
        {"EVTCHNSTAT_pirq", value_of(EvtchnStat::pirq)},
        {"EVTCHNSTAT_virq", value_of(EvtchnStat::virq)},
        {"EVTCHNSTAT_ipi", value_of(EvtchnStat::ipi)},
    };
}

TEST(Layout, EveryFieldSizeAndOffsetMatchesTheXenHeaders) {
    const real_xen_layout* table = nullptr;
    const std::size_t n = real_xen_layouts(&table);
    const std::map<Key, Layout> ours = our_layouts();
    EXPECT_EQ(n, ours.size()) << "the two tables describe different fields";
    for (std::size_t i = 0; i < n; ++i) {
        const Key key{table[i].type, table[i].field};
        const std::string what = key.first + (key.second.empty() ? "" : "." + key.second);
        auto it = ours.find(key);
        ASSERT_NE(it, ours.end()) << what << " has no pvsim counterpart";
        EXPECT_EQ(it->second.size, table[i].size) << "size of " << what;
        EXPECT_EQ(it->second.offset, table[i].offset) << "offset of " << what;
    }
}

TEST(Layout, KeyFactsOfTheBlockRing) {
    // The numbers people quote, checked on the real headers' side too.
    const real_xen_layout* table = nullptr;
    const std::size_t n = real_xen_layouts(&table);
    std::map<Key, Layout> real;
    for (std::size_t i = 0; i < n; ++i) {
        real[{table[i].type, table[i].field}] = {table[i].size, table[i].offset};
    }
    EXPECT_EQ((real[{"blkif_request", ""}].size), 112u);
    EXPECT_EQ((real[{"blkif_request", "seg"}].offset), 24u);
    EXPECT_EQ((real[{"blkif_request_indirect", ""}].size), 64u);
    EXPECT_EQ((real[{"blkif_request_indirect", "indirect_grefs"}].offset), 28u);
    EXPECT_EQ((real[{"blkif_response", "status"}].offset), 10u);
    EXPECT_EQ((real[{"blkif_sring", "ring[0]"}].offset), 64u);
}

TEST(Constants, EveryConstantMatchesTheXenHeaders) {
    const real_xen_constant* table = nullptr;
    const std::size_t n = real_xen_constants(&table);
    const std::map<std::string, long long> ours = our_constants();
    EXPECT_EQ(n, ours.size()) << "the two tables list different constants";
    for (std::size_t i = 0; i < n; ++i) {
        auto it = ours.find(table[i].name);
        ASSERT_NE(it, ours.end()) << table[i].name << " has no pvsim counterpart";
        EXPECT_EQ(it->second, table[i].value) << table[i].name;
    }
}

TEST(Constants, NamesAreTheHeadersOwn) {
    // name() of each operation, status and grant status is the macro that
    // has its value in the header.
    const real_xen_constant* table = nullptr;
    const std::size_t n = real_xen_constants(&table);
    int checked = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string_view macro = table[i].name;
        const long long v = table[i].value;
        std::string_view ours;
        if (macro.starts_with("BLKIF_OP_")) {
            ours = name(static_cast<BlkifOp>(v));
        } else if (macro.starts_with("BLKIF_RSP_")) {
            ours = name(static_cast<BlkifStatus>(v));
        } else if (macro.starts_with("GNTST_")) {
            ours = name(static_cast<GntSt>(v));
        } else {
            continue;
        }
        EXPECT_EQ(ours, macro);
        ++checked;
    }
    EXPECT_EQ(checked, 7 + 3 + 14);
}

TEST(Constants, GrantStatusMessagesAreXens) {
    const char* const* messages = nullptr;
    const std::size_t n = real_xen_gnttab_error_msgs(&messages);
    ASSERT_EQ(n, 14u);
    for (std::size_t i = 0; i < n; ++i) {
        const auto status = static_cast<GntSt>(-static_cast<int>(i));
        EXPECT_EQ(message(status), std::string_view(messages[i])) << name(status);
    }
}

TEST(Constants, NativeProtocolName) {
    EXPECT_EQ(kXenIoProtoAbiNative, std::string_view(real_xen_proto_abi_native()));
}

TEST(RingSize, SlotsPerOrderMatchConstRingSize) {
    for (unsigned order = 0; order <= kBlkifMaxRingPageOrder; ++order) {
        const std::size_t bytes = ring_bytes_for_order(order);
        EXPECT_EQ(blkif_ring_size(order), real_xen_blkif_const_ring_size(bytes)) << order;
    }
    // And for areas of every size near the slot boundaries.
    for (std::size_t bytes = 64 + 112; bytes < 3 * kXenPageSize; bytes += 56) {
        ASSERT_EQ((ring_size_for_bytes<BlkifRequest, BlkifResponse>(bytes)),
                  real_xen_blkif_const_ring_size(bytes))
            << bytes;
    }
}

}  // namespace
}  // namespace pvsim::xen
