// The Xen block interface (xen/io/blkif.h, Xen 4.17): what blkfront puts on
// the shared ring and blkback answers, byte for byte as on x86-64.
//
// Names of constants follow the header (BLKIF_OP_READ is BlkifOp::read,
// VDISK_READONLY is kVdiskReadonly); the header's own macro names are not
// reused so that this file and the C header can meet in one build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "common/xen/grant_table.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::xen {

// blkif.h: blkif_vdev_t, blkif_sector_t.
using BlkifVdev = std::uint16_t;
using BlkifSector = std::uint64_t;

// blkif.h: BLKIF_OP_*. Carried in one byte; a value off this list is a
// request the back end answers with BLKIF_RSP_EOPNOTSUPP, so the field may
// hold any byte and code must not assume it is one of these.
enum class BlkifOp : std::uint8_t {
    read = 0,             // BLKIF_OP_READ
    write = 1,            // BLKIF_OP_WRITE
    write_barrier = 2,    // BLKIF_OP_WRITE_BARRIER ("feature-barrier")
    flush_diskcache = 3,  // BLKIF_OP_FLUSH_DISKCACHE ("feature-flush-cache")
    reserved_1 = 4,       // BLKIF_OP_RESERVED_1 (SLES device commands)
    discard = 5,          // BLKIF_OP_DISCARD ("feature-discard")
    indirect = 6,         // BLKIF_OP_INDIRECT ("feature-max-indirect-segments")
};

// blkif.h: BLKIF_RSP_*.
enum class BlkifStatus : std::int16_t {
    eopnotsupp = -2,  // BLKIF_RSP_EOPNOTSUPP
    error = -1,       // BLKIF_RSP_ERROR (-EIO)
    okay = 0,         // BLKIF_RSP_OKAY
};

// blkif.h: BLKIF_MAX_SEGMENTS_PER_REQUEST, chosen so that a request fits a
// slot of a one-page ring.
inline constexpr unsigned kBlkifMaxSegmentsPerRequest = 11;
// blkif.h: BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST.
inline constexpr unsigned kBlkifMaxIndirectPagesPerRequest = 8;
// blkif.h: BLKIF_DISCARD_SECURE, in blkif_request_discard.flag.
inline constexpr std::uint8_t kBlkifDiscardSecure = 1u << 0;

// blkif.h: VDISK_*, bits of the backend's "info" node.
inline constexpr std::uint32_t kVdiskCdrom = 0x1;      // VDISK_CDROM
inline constexpr std::uint32_t kVdiskRemovable = 0x2;  // VDISK_REMOVABLE
inline constexpr std::uint32_t kVdiskReadonly = 0x4;   // VDISK_READONLY

// Sector-based fields (first_sect, last_sect, sector_number, nr_sectors)
// count 512-byte units unless the front end wrote
// "feature-large-sector-size" (blkif.h, "sector-size" and
// "feature-large-sector-size").
inline constexpr std::size_t kBlkifSectorSize = 512;
// A segment's first_sect and last_sect lie in one 4 KiB frame: 0..7.
inline constexpr unsigned kBlkifSectorsPerFrame = kXenPageSize / kBlkifSectorSize;

// xen/io/protocols.h: XEN_IO_PROTO_ABI_X86_64, the "protocol" a front end
// writes for this layout (also what a missing "protocol" node means here).
inline constexpr std::string_view kXenIoProtoAbiNative = "x86_64-abi";

// The largest "max-ring-page-order" Linux offers (XENBUS_MAX_RING_GRANT_ORDER:
// 16 pages, 512 slots).
inline constexpr unsigned kBlkifMaxRingPageOrder = 4;

// blkif.h: struct blkif_request_segment: a run of sectors in a granted
// frame, first_sect..last_sect inclusive.
struct BlkifRequestSegment {
    GrantRef gref;
    std::uint8_t first_sect;
    std::uint8_t last_sect;
    std::uint8_t pad[2];  // implicit in C; zero
};

// blkif.h: struct blkif_request: the ring slot. READ, WRITE, WRITE_BARRIER
// and FLUSH_DISKCACHE use it as laid out here; DISCARD and INDIRECT requests
// occupy the same 112-byte slot laid out as BlkifRequestDiscard or
// BlkifRequestIndirect (blkif.h: "Cast to this structure when operation ==
// BLKIF_OP_DISCARD"). The ring's request type is this one, as in
// DEFINE_RING_TYPES(blkif, struct blkif_request, ...); read the other
// layouts from a private copy with blkif_request_as<>() and build them with
// blkif_request_slot(). Separate structs rather than Linux's union keep the
// field offsets of the Xen header checkable one struct at a time.
//
// `operation` is at offset 0 and `id` at offset 8 in every layout, so both
// can be read from the slot before knowing which layout it is. Padding is
// explicit so that nothing uninitialised is ever copied into a shared page.
struct BlkifRequest {
    BlkifOp operation;
    std::uint8_t nr_segments;  // 1..11 for read/write; 0 for flush
    BlkifVdev handle;          // only for read/write requests
    std::uint8_t pad[4];       // implicit in C; zero
    std::uint64_t id;          // private to the front end, echoed in the response
    BlkifSector sector_number;
    BlkifRequestSegment seg[kBlkifMaxSegmentsPerRequest];
};

// blkif.h: struct blkif_request_discard.
struct BlkifRequestDiscard {
    BlkifOp operation;  // BlkifOp::discard
    std::uint8_t flag;  // kBlkifDiscardSecure or 0
    BlkifVdev handle;
    std::uint8_t pad[4];  // implicit in C; zero
    std::uint64_t id;
    BlkifSector sector_number;
    std::uint64_t nr_sectors;
};

// blkif.h: struct blkif_request_indirect: the segments are not in the slot
// but in up to eight granted frames of BlkifRequestSegment each.
struct BlkifRequestIndirect {
    BlkifOp operation;    // BlkifOp::indirect
    BlkifOp indirect_op;  // BlkifOp::read or BlkifOp::write
    std::uint16_t nr_segments;
    std::uint8_t pad1[4];  // implicit in C; zero
    std::uint64_t id;
    BlkifSector sector_number;
    BlkifVdev handle;
    std::uint8_t pad2[2];  // implicit in C; zero
    GrantRef indirect_grefs[kBlkifMaxIndirectPagesPerRequest];
    std::uint8_t pad3[4];  // implicit in C (x86-64 tail padding); zero
};

// blkif.h: struct blkif_response.
struct BlkifResponse {
    std::uint64_t id;   // copied from the request
    BlkifOp operation;  // copied from the request
    std::uint8_t pad1;  // implicit in C; zero
    BlkifStatus status;
    std::uint8_t pad2[4];  // implicit in C; zero
};

static_assert(sizeof(BlkifRequestSegment) == 8);
static_assert(sizeof(BlkifRequest) == 112 && offsetof(BlkifRequest, seg) == 24);
static_assert(sizeof(BlkifRequestDiscard) == 32);
static_assert(sizeof(BlkifRequestIndirect) == 64 &&
              offsetof(BlkifRequestIndirect, indirect_grefs) == 28);
static_assert(sizeof(BlkifResponse) == 16 && offsetof(BlkifResponse, operation) == 8 &&
              offsetof(BlkifResponse, status) == 10);
static_assert(offsetof(BlkifRequestDiscard, id) == offsetof(BlkifRequest, id) &&
              offsetof(BlkifRequestIndirect, id) == offsetof(BlkifRequest, id));
static_assert(std::has_unique_object_representations_v<BlkifRequest> &&
                  std::has_unique_object_representations_v<BlkifRequestDiscard> &&
                  std::has_unique_object_representations_v<BlkifRequestIndirect> &&
                  std::has_unique_object_representations_v<BlkifResponse>,
              "no implicit padding: every byte put on the ring is a named field");

// The layouts that share the request slot.
template <class T>
concept BlkifRequestLayout =
    std::is_same_v<T, BlkifRequestDiscard> || std::is_same_v<T, BlkifRequestIndirect>;

// The slot read as the layout its operation selects. Use it on the private
// copy taken by BackRing::consume_request(), never on the shared slot.
template <BlkifRequestLayout T>
T blkif_request_as(const BlkifRequest& slot) noexcept {
    static_assert(sizeof(T) <= sizeof(BlkifRequest));
    T out;
    std::memcpy(&out, &slot, sizeof out);
    return out;
}

// A slot holding `req`, its remaining bytes zero.
template <BlkifRequestLayout T>
BlkifRequest blkif_request_slot(const T& req) noexcept {
    BlkifRequest slot{};
    std::memcpy(&slot, &req, sizeof req);
    return slot;
}

// Segments per indirect frame: PAGE_SIZE / sizeof(struct
// blkif_request_segment) (blkif.h, BLKIF_OP_INDIRECT).
inline constexpr unsigned kBlkifSegmentsPerIndirectFrame =
    kXenPageSize / sizeof(BlkifRequestSegment);
static_assert(kBlkifSegmentsPerIndirectFrame == 512);
// The most segments one indirect request can describe.
inline constexpr unsigned kBlkifMaxIndirectSegments =
    kBlkifMaxIndirectPagesPerRequest * kBlkifSegmentsPerIndirectFrame;

// Indirect frames needed for `nr_segments` segments:
// ceil(nr_segments / segments per frame).
constexpr unsigned blkif_indirect_frames(unsigned nr_segments) noexcept {
    return (nr_segments + kBlkifSegmentsPerIndirectFrame - 1) / kBlkifSegmentsPerIndirectFrame;
}

// DEFINE_RING_TYPES(blkif, struct blkif_request, struct blkif_response).
using BlkifSringEntry = SringEntry<BlkifRequest, BlkifResponse>;
using BlkifFrontRing = FrontRing<BlkifRequest, BlkifResponse>;
using BlkifBackRing = BackRing<BlkifRequest, BlkifResponse>;

// Slots in a block ring of 2^order pages: 32 for one page, 512 for 16.
constexpr RingIdx blkif_ring_size(unsigned order) noexcept {
    return ring_size_for_bytes<BlkifRequest, BlkifResponse>(ring_bytes_for_order(order));
}
static_assert(sizeof(BlkifSringEntry) == 112);
static_assert(blkif_ring_size(0) == 32 && blkif_ring_size(kBlkifMaxRingPageOrder) == 512);

// Names as the header spells them ("BLKIF_OP_READ", "BLKIF_RSP_OKAY"), for
// logs and errors; "BLKIF_OP_UNKNOWN" / "BLKIF_RSP_UNKNOWN" for values the
// header does not define (log the number beside it).
constexpr std::string_view name(BlkifOp op) noexcept {
    switch (op) {
        case BlkifOp::read:
            return "BLKIF_OP_READ";
        case BlkifOp::write:
            return "BLKIF_OP_WRITE";
        case BlkifOp::write_barrier:
            return "BLKIF_OP_WRITE_BARRIER";
        case BlkifOp::flush_diskcache:
            return "BLKIF_OP_FLUSH_DISKCACHE";
        case BlkifOp::reserved_1:
            return "BLKIF_OP_RESERVED_1";
        case BlkifOp::discard:
            return "BLKIF_OP_DISCARD";
        case BlkifOp::indirect:
            return "BLKIF_OP_INDIRECT";
    }
    return "BLKIF_OP_UNKNOWN";
}

constexpr std::string_view name(BlkifStatus status) noexcept {
    switch (status) {
        case BlkifStatus::okay:
            return "BLKIF_RSP_OKAY";
        case BlkifStatus::error:
            return "BLKIF_RSP_ERROR";
        case BlkifStatus::eopnotsupp:
            return "BLKIF_RSP_EOPNOTSUPP";
    }
    return "BLKIF_RSP_UNKNOWN";
}

}  // namespace pvsim::xen
