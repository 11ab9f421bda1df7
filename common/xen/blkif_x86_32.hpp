// The 32-bit x86 block ring ABI ("x86_32-abi", xen/io/protocols.h
// XEN_IO_PROTO_ABI_X86_32): what a 32-bit guest's blkfront puts on the ring,
// and what blkback answers it with. Linux declares these in
// drivers/block/xen-blkback/common.h (Linux 6.x): struct
// blkif_x86_32_request with its union of blkif_x86_32_request_rw /
// _discard / _other / _indirect, all __attribute__((__packed__)), and the
// ring is DEFINE_RING_TYPES(blkif_x86_32, struct blkif_x86_32_request,
// struct blkif_response __packed).
//
// The only difference from the native (x86-64) layout is that an i386 C
// compiler aligns uint64_t to 4 bytes: the four bytes of padding the native
// layouts hold before `id` (offset 4) are absent, every later field sits 4
// bytes earlier, a request is 108 bytes instead of 112 and a response 12
// instead of 16. A slot is then 108 bytes; a one-page ring still holds 32 of
// them (__RING_SIZE: (4096 - 64) / 108 = 37, rounded down to 32) and a
// 16-page ring 512, as the native one, but at other offsets.
//
// As in common/xen/blkif.hpp, each layout is its own struct rather than a
// union, so that its offsets can be checked one struct at a time; the
// reserved bytes are named, so nothing uninitialised reaches a shared page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "common/xen/blkif.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::xen {

// xen/io/protocols.h: XEN_IO_PROTO_ABI_X86_32.
inline constexpr std::string_view kXenIoProtoAbiX86_32 = "x86_32-abi";

// Linux xen-blkback/common.h: enum blkif_protocol, for the layouts pvsim
// lays out (BLKIF_PROTOCOL_NATIVE is x86_64 here: pvsim is an x86-64 host).
enum class BlkifProtocol {
    x86_64,  // BLKIF_PROTOCOL_NATIVE / BLKIF_PROTOCOL_X86_64, "x86_64-abi"
    x86_32,  // BLKIF_PROTOCOL_X86_32, "x86_32-abi"
};

// The "protocol" node's value for `protocol`.
constexpr std::string_view to_string(BlkifProtocol protocol) noexcept {
    return protocol == BlkifProtocol::x86_32 ? kXenIoProtoAbiX86_32 : kXenIoProtoAbiNative;
}

// xen-blkback/xenbus.c connect_ring: the protocols it knows by name
// (XEN_IO_PROTO_ABI_NATIVE, which is x86_64-abi on x86-64,
// XEN_IO_PROTO_ABI_X86_32 and XEN_IO_PROTO_ABI_X86_64); nullopt for any
// other string, which connect_ring refuses ("unknown fe protocol %s").
constexpr std::optional<BlkifProtocol> parse_blkif_protocol(std::string_view text) noexcept {
    if (text == kXenIoProtoAbiNative) {
        return BlkifProtocol::x86_64;
    }
    if (text == kXenIoProtoAbiX86_32) {
        return BlkifProtocol::x86_32;
    }
    return std::nullopt;
}

// struct blkif_x86_32_request with u.rw: READ, WRITE, WRITE_BARRIER and
// FLUSH_DISKCACHE. The ring's request type, as BlkifRequest is natively.
struct [[gnu::packed]] BlkifX86_32Request {
    BlkifOp operation;
    std::uint8_t nr_segments;
    BlkifVdev handle;
    std::uint64_t id;
    BlkifSector sector_number;
    BlkifRequestSegment seg[kBlkifMaxSegmentsPerRequest];
};

// struct blkif_x86_32_request with u.discard.
struct [[gnu::packed]] BlkifX86_32RequestDiscard {
    BlkifOp operation;
    std::uint8_t flag;
    BlkifVdev pad1;  // _pad1: was "handle" for read/write requests
    std::uint64_t id;
    BlkifSector sector_number;
    std::uint64_t nr_sectors;
};

// struct blkif_x86_32_request with u.indirect.
struct [[gnu::packed]] BlkifX86_32RequestIndirect {
    BlkifOp operation;
    BlkifOp indirect_op;
    std::uint16_t nr_segments;
    std::uint64_t id;
    BlkifSector sector_number;
    BlkifVdev handle;
    std::uint16_t pad1;  // _pad1
    GrantRef indirect_grefs[kBlkifMaxIndirectPagesPerRequest];
    std::uint64_t pad2;  // _pad2: "make it 64 byte aligned"
};

// struct blkif_x86_32_request with u.other: any other operation, of which
// only the id is read.
struct [[gnu::packed]] BlkifX86_32RequestOther {
    BlkifOp operation;
    std::uint8_t pad1;  // _pad1
    BlkifVdev pad2;     // _pad2
    std::uint64_t id;
};

// struct blkif_response __packed (the x86_32 ring's response type).
struct [[gnu::packed]] BlkifX86_32Response {
    std::uint64_t id;
    BlkifOp operation;
    std::uint8_t pad;
    BlkifStatus status;
};

static_assert(sizeof(BlkifX86_32Request) == 108 && offsetof(BlkifX86_32Request, id) == 4 &&
              offsetof(BlkifX86_32Request, sector_number) == 12 &&
              offsetof(BlkifX86_32Request, seg) == 20);
static_assert(sizeof(BlkifX86_32RequestDiscard) == 28 &&
              offsetof(BlkifX86_32RequestDiscard, nr_sectors) == 20);
static_assert(sizeof(BlkifX86_32RequestIndirect) == 64 &&
              offsetof(BlkifX86_32RequestIndirect, handle) == 20 &&
              offsetof(BlkifX86_32RequestIndirect, indirect_grefs) == 24);
static_assert(sizeof(BlkifX86_32RequestOther) == 12);
static_assert(sizeof(BlkifX86_32Response) == 12 && offsetof(BlkifX86_32Response, status) == 10);
static_assert(RingMessage<BlkifX86_32Request> && RingMessage<BlkifX86_32Response>);
static_assert(std::has_unique_object_representations_v<BlkifX86_32Request> &&
              std::has_unique_object_representations_v<BlkifX86_32RequestDiscard> &&
              std::has_unique_object_representations_v<BlkifX86_32RequestIndirect> &&
              std::has_unique_object_representations_v<BlkifX86_32Response>);

// Linux xen-blkback/common.h blkif_get_x86_32_req: the native request a
// 32-bit one stands for, field by field as Linux translates it: a
// read/write's first min(nr_segments, 11) segments, an indirect request's
// first min(8, INDIRECT_PAGES(nr_segments)) grant refs (Linux bounds them
// by its own MAX_INDIRECT_PAGES; pvsim by blkif.h's eight, and
// request_check then holds the count to the vbd's offer), and of an
// operation it does not know only the id, so that it can be answered.
// Everything not copied is zero. `src` must be a private copy (XSA-155):
// Linux reads the shared slot field by field under barrier(); pvsim has
// taken the whole slot once already (BackRing::consume_request).
BlkifRequest blkif_get_x86_32_req(const BlkifX86_32Request& src) noexcept;

// The other way, for a 32-bit guest's blkfront: `src` laid out as that
// guest's compiler lays out struct blkif_request.
BlkifX86_32Request blkif_put_x86_32_req(const BlkifRequest& src) noexcept;

// make_response for BLKIF_PROTOCOL_X86_32 (RING_GET_RESPONSE on
// blk_rings->x86_32) and the 32-bit frontend's reading of it.
BlkifX86_32Response blkif_x86_32_response(const BlkifResponse& rsp) noexcept;
BlkifResponse blkif_native_response(const BlkifX86_32Response& rsp) noexcept;

// DEFINE_RING_TYPES(blkif_x86_32, ...).
using BlkifX86_32SringEntry = SringEntry<BlkifX86_32Request, BlkifX86_32Response>;
using BlkifX86_32FrontRing = FrontRing<BlkifX86_32Request, BlkifX86_32Response>;
using BlkifX86_32BackRing = BackRing<BlkifX86_32Request, BlkifX86_32Response>;

constexpr RingIdx blkif_x86_32_ring_size(unsigned order) noexcept {
    return ring_size_for_bytes<BlkifX86_32Request, BlkifX86_32Response>(
        ring_bytes_for_order(order));
}
static_assert(sizeof(BlkifX86_32SringEntry) == 108 &&
              ring_entries_offset<BlkifX86_32Request, BlkifX86_32Response>() == 64);
// Both layouts fit the same number of slots at every ring-page-order, so a
// ring's size (and the backend's table of requests) does not depend on it.
static_assert(blkif_x86_32_ring_size(0) == 32 && blkif_x86_32_ring_size(1) == 64 &&
              blkif_x86_32_ring_size(2) == 128 && blkif_x86_32_ring_size(3) == 256 &&
              blkif_x86_32_ring_size(kBlkifMaxRingPageOrder) == 512);
static_assert(blkif_x86_32_ring_size(0) == blkif_ring_size(0) &&
              blkif_x86_32_ring_size(1) == blkif_ring_size(1) &&
              blkif_x86_32_ring_size(2) == blkif_ring_size(2) &&
              blkif_x86_32_ring_size(3) == blkif_ring_size(3) &&
              blkif_x86_32_ring_size(4) == blkif_ring_size(4));

}  // namespace pvsim::xen
