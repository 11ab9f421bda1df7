// The check blkback makes of every request before acting on it
// (xen-blkback/blkback.c: dispatch_rw_block_io, dispatch_discard_io,
// xen_vbd_translate and __do_block_io_op's default case), made on the
// private copy taken with RING_COPY_REQUEST so that the frontend cannot
// change a field between the check and its use (XSA-155). Pure logic: no
// ring, no grant, no I/O.
//
// Errors answer that one request only:
//   an operation the vbd does not offer (barrier, flush, discard,
//   indirect)                              -> BLKIF_RSP_EOPNOTSUPP
// BLKIF_DISCARD_SECURE on a vbd without "discard-secure" is ignored: the
// range is discarded plainly, as dispatch_discard_io does.
//   0 or more than 11 segments (read/write), more than 11 (flush/barrier),
//   an indirect request of 0 or more segments than offered, or whose
//   indirect_op is not read or write, first_sect > last_sect,
//   last_sect >= 8, a sector range past the end of the disk or not aligned
//   to the logical sector size, and any write, flush, barrier or discard to
//   a read-only vbd                        -> BLKIF_RSP_ERROR
// The segments of an indirect request live in granted pages; they are
// checked with check_segments() once the data plane has copied them out
// (xen_blkbk_parse_indirect). A grant that does not map is found later.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/xen/blkif.hpp"

namespace pvsim::backend::blkback {

// What the vbd offers, as published at InitWait and Connected.
struct VbdLimits {
    // Capacity in 512-byte sectors ("sectors").
    std::uint64_t sectors = 0;
    // "sector-size": requests must start and end on it.
    std::uint32_t logical_sector_size = xen::kBlkifSectorSize;
    bool read_only = false;
    // "feature-flush-cache", "feature-barrier", "feature-discard" as written.
    bool flush = false;
    bool barrier = false;
    bool discard = false;
    // "discard-secure": pvsim writes 0, so BLKIF_DISCARD_SECURE is ignored.
    bool discard_secure = false;
    // "feature-max-indirect-segments" (0: BLKIF_OP_INDIRECT not offered).
    unsigned max_indirect_segments = 0;

    // The most segments one request of this vbd can carry.
    unsigned max_segments() const noexcept {
        return max_indirect_segments > xen::kBlkifMaxSegmentsPerRequest
                   ? max_indirect_segments
                   : xen::kBlkifMaxSegmentsPerRequest;
    }
};

// What the data plane does for a valid request.
enum class IoKind : std::uint8_t {
    read,
    write,
    // BLKIF_OP_FLUSH_DISKCACHE: with segments, Linux blkback writes them
    // with REQ_PREFLUSH; pvsim writes them and then flushes, which also
    // makes the data itself durable before the response.
    flush,
    // BLKIF_OP_WRITE_BARRIER: Linux drains the ring's I/O first
    // (xen_blk_drain_io), then writes as a flush does.
    barrier,
    // BLKIF_OP_DISCARD: nr_sectors from sector_number, no segment.
    discard,
};

struct CheckedRequest {
    // Echoed in the response whatever the outcome (BLKIF_OP_INDIRECT for an
    // indirect request, as Linux answers it).
    std::uint64_t id = 0;
    xen::BlkifOp operation = xen::BlkifOp::read;
    IoKind kind = IoKind::read;
    std::uint64_t sector_number = 0;
    std::uint64_t nr_sectors = 0;  // 512-byte sectors the segments (or discard) cover
    std::uint16_t nr_segments = 0;
    // The segments of a direct request; an indirect one's are read from its
    // indirect pages.
    std::array<xen::BlkifRequestSegment, xen::kBlkifMaxSegmentsPerRequest> seg{};
    bool indirect = false;
    std::uint8_t nr_indirect_pages = 0;
    std::array<xen::GrantRef, xen::kBlkifMaxIndirectPagesPerRequest> indirect_grefs{};
    // BLKIF_DISCARD_SECURE asked and offered (asked alone is ignored).
    bool secure = false;

    // Known once the segments are checked: an indirect request's are not
    // until its indirect pages are read (start_burst), and it is 0 before.
    std::uint64_t bytes() const noexcept { return nr_sectors * xen::kBlkifSectorSize; }
    // What it moves at most, known when the request is taken: bytes(), or for
    // an indirect request a whole page per segment. The pass budget
    // (pass_budget.hpp) counts this, so that a ring of indirect requests is
    // answered a budget at a time like one of direct requests.
    std::uint64_t bytes_at_most() const noexcept {
        if (!has_data()) {
            return 0;
        }
        return indirect ? std::uint64_t{nr_segments} * xen::kXenPageSize : bytes();
    }
    // Segments map read-only unless the backend writes into them (a read).
    bool maps_readonly() const noexcept { return kind != IoKind::read; }
    // Whether it moves data from the store to the guest or back.
    bool has_data() const noexcept { return nr_segments != 0 && kind != IoKind::discard; }
};

struct RequestCheck {
    // okay: `request` is to be served. Otherwise the response's status.
    xen::BlkifStatus status = xen::BlkifStatus::okay;
    // Why not, for the log; empty when okay.
    std::string_view reason;
    // id and operation are filled in every case.
    CheckedRequest request;

    bool ok() const noexcept { return status == xen::BlkifStatus::okay; }
};

// `copy` must be the private copy of the slot (BackRing::consume_request).
// For an indirect request only the slot's fields are checked: its segments
// go through check_segments() once read.
RequestCheck check_request(const xen::BlkifRequest& copy, const VbdLimits& limits) noexcept;

// Checks `segments` (request.nr_segments of them, private copies) and the
// sector range they cover, filling request.nr_sectors. Returns okay or the
// response's status with `reason` set.
xen::BlkifStatus check_segments(CheckedRequest& request,
                                std::span<const xen::BlkifRequestSegment> segments,
                                const VbdLimits& limits, std::string_view& reason) noexcept;

}  // namespace pvsim::backend::blkback
