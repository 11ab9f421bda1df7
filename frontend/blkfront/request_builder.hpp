// How one BlockRequest becomes blkif requests on the ring (xen/io/blkif.h,
// struct blkif_request and struct blkif_request_indirect; Linux
// xen-blkfront.c blkif_queue_rw_req, blkif_queue_discard_req): a request
// carries one segment per 4 KiB page of the buffer, and a segment names the
// 512-byte sectors it covers in its page as first_sect..last_sect
// (inclusive, 0..7). Without indirect descriptors a request holds at most
// BLKIF_MAX_SEGMENTS_PER_REQUEST (11) segments in its slot; with them
// (max_segments > 11, the negotiated feature-max-indirect-segments) one
// BLKIF_OP_INDIRECT request holds up to max_segments, written into
// indirect frames of 512 segments each. Larger I/O is split into
// consecutive requests, each starting where the previous one ended on the
// disk. A flush is one request with no segment; a discard is one
// BLKIF_OP_DISCARD naming its sector range.
//
// Pure planning: no grants and no ring here, so the sector arithmetic can be
// checked on its own; the data plane grants the planned pages and fills the
// ring slot with make_blkif_request().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/xen/blkif.hpp"
#include "frontend/block_device.hpp"

namespace pvsim::frontend::blkfront {

struct SegmentPlan {
    hypervisor::Gfn gfn = 0;
    std::uint8_t first_sect = 0;
    std::uint8_t last_sect = 0;

    std::size_t sectors() const noexcept { return std::size_t{last_sect} - first_sect + 1; }
    friend bool operator==(const SegmentPlan&, const SegmentPlan&) = default;
};

// One blkif request to be issued.
struct BlkifRequestPlan {
    // read, write, a flush operation, or discard. A read or write with more
    // than 11 segments travels as BLKIF_OP_INDIRECT (indirect()).
    xen::BlkifOp operation = xen::BlkifOp::read;
    xen::BlkifSector sector = 0;  // in 512-byte units
    std::vector<SegmentPlan> segments;
    std::uint64_t discard_sectors = 0;  // BLKIF_OP_DISCARD's nr_sectors

    bool indirect() const noexcept { return segments.size() > xen::kBlkifMaxSegmentsPerRequest; }
    // Indirect frames the segments take (0 for a direct request).
    unsigned indirect_frames() const noexcept {
        return indirect() ? xen::blkif_indirect_frames(static_cast<unsigned>(segments.size())) : 0;
    }
    std::uint64_t sectors() const noexcept;
    std::uint64_t bytes() const noexcept { return sectors() * xen::kBlkifSectorSize; }
};

// 512-byte sectors a read or write of `buffer` moves.
inline std::uint64_t buffer_sectors(const GuestBuffer& buffer) noexcept {
    return buffer.length / xen::kBlkifSectorSize;
}

// Plans `operation` at `sector` with `buffer`. A read or write needs a
// buffer whose length is a non-zero multiple of 512 and fits its pages,
// split into requests of at most `max_segments` segments (11, or the
// negotiated indirect segment count, at most kBlkifMaxIndirectSegments); a
// flush takes no buffer and travels as `flush_operation`; a discard takes
// no buffer and `discard_sectors` (non-zero) sectors. Throws
// std::invalid_argument saying what is wrong with the request.
//
// A discard is split as Linux's block layer splits one for blkfront's queue
// (block/blk-lib.c __blkdev_issue_discard and bio_discard_limit, 6.x; the
// queue's discard_granularity is the backend's discard-granularity,
// blkif_set_queue_limits): a range that does not start on a
// `discard_granularity` boundary (bytes; 0 or 512: any sector) ends its
// first request at the next boundary, so that every later one starts
// aligned, and no request is longer than UINT_MAX bytes rounded down to the
// granularity.
std::vector<BlkifRequestPlan> plan_requests(
    BlockOperation operation, std::uint64_t sector, const GuestBuffer* buffer,
    xen::BlkifOp flush_operation, unsigned max_segments = xen::kBlkifMaxSegmentsPerRequest,
    std::uint64_t discard_sectors = 0, std::uint32_t discard_granularity = 0);

// The ring slot for a direct `plan` (at most 11 segments, or none), with
// `grefs[i]` granting segment i's page and `id` the shadow entry it is
// tracked by; padding zeroed. A discard plan gives a BlkifRequestDiscard
// slot (no grefs).
xen::BlkifRequest make_blkif_request(const BlkifRequestPlan& plan, std::uint64_t id,
                                     xen::BlkifVdev handle, std::span<const xen::GrantRef> grefs);

// The ring slot of an indirect `plan`: BLKIF_OP_INDIRECT with the plan's
// operation as indirect_op, its segment count, and `indirect_grefs` naming
// the frames its segments are written in (plan.indirect_frames() of them).
xen::BlkifRequest make_indirect_request(const BlkifRequestPlan& plan, std::uint64_t id,
                                        xen::BlkifVdev handle,
                                        std::span<const xen::GrantRef> indirect_grefs);

// Writes segment i of an indirect `plan`, granted by `grefs[i]`, into
// frame i / 512 of `frames` at slot i % 512 (blkif.h: the indirect frames
// are arrays of struct blkif_request_segment); the rest of each frame is
// zeroed.
void write_indirect_segments(const BlkifRequestPlan& plan, std::span<const xen::GrantRef> grefs,
                             std::span<std::byte* const> frames);

}  // namespace pvsim::frontend::blkfront
