// The check blkback makes of every request before acting on it
// (xen-blkback/blkback.c: dispatch_rw_block_io, xen_vbd_translate and
// __do_block_io_op's default case), made on the private copy taken with
// RING_COPY_REQUEST so that the frontend cannot change a field between the
// check and its use (XSA-155). Pure logic: no ring, no grant, no I/O.
//
// Errors answer that one request only (issue: "Per request"):
//   an operation the vbd does not offer     -> BLKIF_RSP_EOPNOTSUPP
//   0 or more than 11 segments (read/write), more than 11 (flush),
//   first_sect > last_sect, last_sect >= 8, a sector range past the end of
//   the disk or not aligned to the logical sector size, and any write or
//   flush to a read-only vbd                -> BLKIF_RSP_ERROR
// A grant that does not map is found later, when the segments are mapped.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/xen/blkif.hpp"

namespace pvsim::backend::blkback {

// What the vbd offers, as published at Connected.
struct VbdLimits {
    // Capacity in 512-byte sectors ("sectors").
    std::uint64_t sectors = 0;
    // "sector-size": requests must start and end on it.
    std::uint32_t logical_sector_size = xen::kBlkifSectorSize;
    bool read_only = false;
    // "feature-flush-cache"
    bool flush = false;
};

// What the data plane does for a valid request.
enum class IoKind : std::uint8_t {
    read,
    write,
    // BLKIF_OP_FLUSH_DISKCACHE: with segments, Linux blkback writes them
    // with REQ_PREFLUSH; pvsim writes them and then flushes, which also
    // makes the data itself durable before the response.
    flush,
};

struct CheckedRequest {
    // Echoed in the response whatever the outcome.
    std::uint64_t id = 0;
    xen::BlkifOp operation = xen::BlkifOp::read;
    IoKind kind = IoKind::read;
    std::uint64_t sector_number = 0;
    std::uint64_t nr_sectors = 0;  // 512-byte sectors the segments cover
    std::uint8_t nr_segments = 0;
    std::array<xen::BlkifRequestSegment, xen::kBlkifMaxSegmentsPerRequest> seg{};

    std::uint64_t bytes() const noexcept { return nr_sectors * xen::kBlkifSectorSize; }
    // Segments map read-only unless the backend writes into them (a read).
    bool maps_readonly() const noexcept { return kind != IoKind::read; }
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
RequestCheck check_request(const xen::BlkifRequest& copy, const VbdLimits& limits) noexcept;

}  // namespace pvsim::backend::blkback
