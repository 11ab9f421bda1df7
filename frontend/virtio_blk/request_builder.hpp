// How one BlockRequest becomes virtio-blk requests (virtio 1.2 §5.2.6; Linux
// drivers/block/virtio_blk.c: virtblk_setup_cmd, virtblk_add_req,
// virtblk_setup_discard_write_zeroes_erase): each is a chain of the
// device-readable header, then the data, then the device-writable status
// byte. The data is the buffer's pages, one descriptor per run of
// physically contiguous pages (as the block layer merges segments), at most
// `max_segment_bytes` each (size_max); a request carries at most
// `max_segments` of them (seg_max), and larger I/O is split into consecutive
// requests. A flush is a header and status alone; a discard carries one
// struct virtio_blk_discard_write_zeroes, split by max_discard_sectors.
//
// Pure planning: no queue and no guest memory writes here, so the sector
// arithmetic can be checked on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/virtio/virtio_blk.hpp"
#include "frontend/block_device.hpp"

namespace pvsim::frontend::virtio_blk {

// A guest-physical range of the request's data.
struct DataSegment {
    std::uint64_t gpa = 0;
    std::uint32_t len = 0;
    friend bool operator==(const DataSegment&, const DataSegment&) = default;
};

struct RequestLimits {
    // Data descriptors per request (seg_max, capped by what one chain
    // holds), at least 1.
    std::uint32_t max_segments = 1;
    // Bytes per data descriptor (size_max), at least one page.
    std::uint32_t max_segment_bytes = 0xfffff000;
    // Sectors per discard request (max_discard_sectors), at least 1.
    std::uint32_t max_discard_sectors = 0xffffffff;
};

struct VirtioBlkRequestPlan {
    virtio::BlkReqType type = virtio::BlkReqType::in;
    std::uint64_t sector = 0;           // in 512-byte units
    std::vector<DataSegment> data;      // IN / OUT only
    std::uint32_t discard_sectors = 0;  // DISCARD only: the one range's length

    std::uint64_t data_bytes() const noexcept;
};

// Plans `request` (its buffer, sector and discard_sectors). A read or write
// needs a buffer whose length is a non-zero multiple of 512 within its
// pages; a flush and a discard take no data buffer, a discard a non-zero
// sector count. Throws std::invalid_argument saying what is wrong.
std::vector<VirtioBlkRequestPlan> plan_requests(const BlockRequest& request,
                                                const RequestLimits& limits);

// The status byte as a BlockCompletion status (block_device.hpp):
// VIRTIO_BLK_S_OK 0, VIRTIO_BLK_S_UNSUPP -EOPNOTSUPP, VIRTIO_BLK_S_IOERR and
// any value the spec does not define -EIO.
int status_errno(std::uint8_t status) noexcept;

}  // namespace pvsim::frontend::virtio_blk
