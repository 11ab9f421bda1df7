// How one BlockRequest becomes blkif requests on the ring (xen/io/blkif.h,
// struct blkif_request; Linux xen-blkfront.c blkif_queue_rw_req): each
// request carries at most BLKIF_MAX_SEGMENTS_PER_REQUEST (11) segments, one
// per 4 KiB page of the buffer, and a segment names the 512-byte sectors it
// covers in its page as first_sect..last_sect (inclusive, 0..7). Larger I/O
// is split into consecutive requests, each starting where the previous one
// ended on the disk. A flush is one request with no segment.
//
// Pure planning: no grants and no ring here, so the sector arithmetic can be
// checked on its own; the data plane grants the planned pages and fills the
// ring slot with make_blkif_request().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <boost/container/static_vector.hpp>

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
    xen::BlkifOp operation = xen::BlkifOp::read;
    xen::BlkifSector sector = 0;  // in 512-byte units
    boost::container::static_vector<SegmentPlan, xen::kBlkifMaxSegmentsPerRequest> segments;

    std::uint64_t sectors() const noexcept;
    std::uint64_t bytes() const noexcept { return sectors() * xen::kBlkifSectorSize; }
};

// 512-byte sectors a read or write of `buffer` moves.
inline std::uint64_t buffer_sectors(const GuestBuffer& buffer) noexcept {
    return buffer.length / xen::kBlkifSectorSize;
}

// Plans `operation` at `sector` with `buffer`. A read or write needs a
// buffer whose length is a non-zero multiple of 512 and fits its pages; a
// flush takes no buffer and travels as `flush_operation`. Throws
// std::invalid_argument saying what is wrong with the request.
std::vector<BlkifRequestPlan> plan_requests(BlockOperation operation, std::uint64_t sector,
                                            const GuestBuffer* buffer,
                                            xen::BlkifOp flush_operation);

// The ring slot for `plan`, with `grefs[i]` granting segment i's page and
// `id` the shadow entry it is tracked by; padding zeroed.
xen::BlkifRequest make_blkif_request(const BlkifRequestPlan& plan, std::uint64_t id,
                                     xen::BlkifVdev handle, std::span<const xen::GrantRef> grefs);

}  // namespace pvsim::frontend::blkfront
