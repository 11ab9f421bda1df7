#include "backend/blkback/request_check.hpp"

namespace pvsim::backend::blkback {
namespace {

RequestCheck refuse(RequestCheck check, xen::BlkifStatus status, std::string_view reason) {
    check.status = status;
    check.reason = reason;
    return check;
}

}  // namespace

RequestCheck check_request(const xen::BlkifRequest& copy, const VbdLimits& limits) noexcept {
    using xen::BlkifOp;
    using xen::BlkifStatus;
    RequestCheck check;
    CheckedRequest& req = check.request;
    // `operation` and `id` sit at the same offsets in every request layout
    // (blkif.h), so they can be echoed even for an operation not understood.
    req.id = copy.id;
    req.operation = copy.operation;

    switch (copy.operation) {
        case BlkifOp::read:
            req.kind = IoKind::read;
            break;
        case BlkifOp::write:
            req.kind = IoKind::write;
            break;
        case BlkifOp::flush_diskcache:
            req.kind = IoKind::flush;
            break;
        case BlkifOp::write_barrier:
            // "feature-barrier" is 0: Linux answers what it does not offer
            // with EOPNOTSUPP.
            return refuse(check, BlkifStatus::eopnotsupp, "write barriers are not offered");
        case BlkifOp::discard:
            return refuse(check, BlkifStatus::eopnotsupp, "discard is not offered");
        case BlkifOp::indirect:
            return refuse(check, BlkifStatus::eopnotsupp,
                          "indirect requests are not offered (feature-max-indirect-segments 0)");
        default:
            // __do_block_io_op: "default: ... make_response(..., BLKIF_RSP_EOPNOTSUPP)".
            return refuse(check, BlkifStatus::eopnotsupp, "unknown operation");
    }

    // dispatch_rw_block_io: "nseg == 0 && operation_flags != REQ_PREFLUSH"
    // or "nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST".
    const unsigned nseg = copy.nr_segments;
    if (nseg == 0 && req.kind != IoKind::flush) {
        return refuse(check, BlkifStatus::error, "a read or write with no segment");
    }
    if (nseg > xen::kBlkifMaxSegmentsPerRequest) {
        return refuse(check, BlkifStatus::error, "more than 11 segments");
    }
    req.nr_segments = static_cast<std::uint8_t>(nseg);
    req.sector_number = copy.sector_number;
    for (unsigned i = 0; i < nseg; ++i) {
        const xen::BlkifRequestSegment& seg = copy.seg[i];
        if (seg.last_sect >= xen::kBlkifSectorsPerFrame) {
            return refuse(check, BlkifStatus::error, "a segment's last_sect is beyond its page");
        }
        if (seg.last_sect < seg.first_sect) {
            return refuse(check, BlkifStatus::error,
                          "a segment's first_sect is after its last_sect");
        }
        req.seg[i] = seg;
        req.nr_sectors += static_cast<unsigned>(seg.last_sect - seg.first_sect) + 1;
    }

    // xen_vbd_translate: no write of any kind to a read-only vbd.
    if (req.kind != IoKind::read && limits.read_only) {
        return refuse(check, BlkifStatus::error, "a write to a read-only vbd");
    }
    if (req.nr_sectors != 0) {
        const std::uint64_t end = req.sector_number + req.nr_sectors;
        if (end < req.sector_number || end > limits.sectors) {
            return refuse(check, BlkifStatus::error, "a sector range past the end of the disk");
        }
    }
    // dispatch_rw_block_io: "Misaligned I/O request" against the logical
    // block size.
    const std::uint64_t align = limits.logical_sector_size / xen::kBlkifSectorSize;
    if (align > 1 && ((req.sector_number | req.nr_sectors) & (align - 1)) != 0) {
        return refuse(check, BlkifStatus::error,
                      "a sector range not aligned to the logical sector size");
    }
    if (req.kind == IoKind::flush && !limits.flush) {
        return refuse(check, BlkifStatus::eopnotsupp, "the store has no cache to flush");
    }
    return check;
}

}  // namespace pvsim::backend::blkback
