#include "backend/blkback/request_check.hpp"

namespace pvsim::backend::blkback {
namespace {

using xen::BlkifOp;
using xen::BlkifStatus;

RequestCheck refuse(RequestCheck check, BlkifStatus status, std::string_view reason) {
    check.status = status;
    check.reason = reason;
    return check;
}

// xen_vbd_translate: the range must lie in the disk; dispatch_rw_block_io:
// "Misaligned I/O request" against the logical block size.
BlkifStatus check_range(const CheckedRequest& req, const VbdLimits& limits,
                        std::string_view& reason) noexcept {
    if (req.nr_sectors != 0) {
        const std::uint64_t end = req.sector_number + req.nr_sectors;
        if (end < req.sector_number || end > limits.sectors) {
            reason = "a sector range past the end of the disk";
            return BlkifStatus::error;
        }
    }
    const std::uint64_t align = limits.logical_sector_size / xen::kBlkifSectorSize;
    if (align > 1 && ((req.sector_number | req.nr_sectors) & (align - 1)) != 0) {
        reason = "a sector range not aligned to the logical sector size";
        return BlkifStatus::error;
    }
    return BlkifStatus::okay;
}

}  // namespace

BlkifStatus check_segments(CheckedRequest& req, std::span<const xen::BlkifRequestSegment> segments,
                           const VbdLimits& limits, std::string_view& reason) noexcept {
    req.nr_sectors = 0;
    for (const xen::BlkifRequestSegment& seg : segments.first(req.nr_segments)) {
        if (seg.last_sect >= xen::kBlkifSectorsPerFrame) {
            reason = "a segment's last_sect is beyond its page";
            return BlkifStatus::error;
        }
        if (seg.last_sect < seg.first_sect) {
            reason = "a segment's first_sect is after its last_sect";
            return BlkifStatus::error;
        }
        req.nr_sectors += static_cast<unsigned>(seg.last_sect - seg.first_sect) + 1;
    }
    return check_range(req, limits, reason);
}

RequestCheck check_request(const xen::BlkifRequest& copy, const VbdLimits& limits) noexcept {
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
            req.kind = IoKind::barrier;
            break;
        case BlkifOp::discard: {
            req.kind = IoKind::discard;
            const auto discard = xen::blkif_request_as<xen::BlkifRequestDiscard>(copy);
            if (limits.read_only) {
                return refuse(check, BlkifStatus::error, "a discard on a read-only vbd");
            }
            if (!limits.discard) {
                return refuse(check, BlkifStatus::eopnotsupp, "discard is not offered");
            }
            // dispatch_discard_io (Linux 3.7 to 6.x): BLKIF_DISCARD_SECURE
            // is honoured only when the vbd offers "discard-secure"
            // ("blkif->vbd.discard_secure && (req->u.discard.flag &
            // BLKIF_DISCARD_SECURE)"); otherwise the flag is ignored and
            // the range is discarded plainly, never refused.
            req.secure = limits.discard_secure && (discard.flag & xen::kBlkifDiscardSecure) != 0;
            req.sector_number = discard.sector_number;
            req.nr_sectors = discard.nr_sectors;
            std::string_view reason;
            const BlkifStatus status = check_range(req, limits, reason);
            return status == BlkifStatus::okay ? check : refuse(check, status, reason);
        }
        case BlkifOp::indirect: {
            const auto indirect = xen::blkif_request_as<xen::BlkifRequestIndirect>(copy);
            // dispatch_rw_block_io answers with req_operation, the operation
            // the indirect request carries (blkfront checks the response's
            // operation against it), whether it is served or refused.
            req.operation = indirect.indirect_op;
            if (limits.max_indirect_segments == 0) {
                return refuse(
                    check, BlkifStatus::eopnotsupp,
                    "indirect requests are not offered (feature-max-indirect-segments 0)");
            }
            // dispatch_rw_block_io: "Invalid indirect operation".
            if (indirect.indirect_op != BlkifOp::read && indirect.indirect_op != BlkifOp::write) {
                return refuse(check, BlkifStatus::error,
                              "an indirect request whose indirect_op is not read or write");
            }
            req.kind = indirect.indirect_op == BlkifOp::read ? IoKind::read : IoKind::write;
            if (indirect.nr_segments == 0 || indirect.nr_segments > limits.max_indirect_segments) {
                return refuse(check, BlkifStatus::error,
                              "an indirect request of 0 or more segments than offered");
            }
            if (req.kind == IoKind::write && limits.read_only) {
                return refuse(check, BlkifStatus::error, "a write to a read-only vbd");
            }
            req.indirect = true;
            req.nr_segments = indirect.nr_segments;
            req.sector_number = indirect.sector_number;
            req.nr_indirect_pages =
                static_cast<std::uint8_t>(xen::blkif_indirect_frames(indirect.nr_segments));
            for (unsigned i = 0; i < req.nr_indirect_pages; ++i) {
                req.indirect_grefs[i] = indirect.indirect_grefs[i];
            }
            return check;
        }
        default:
            // __do_block_io_op: "default: ... make_response(..., BLKIF_RSP_EOPNOTSUPP)".
            return refuse(check, BlkifStatus::eopnotsupp, "unknown operation");
    }

    // dispatch_rw_block_io: "nseg == 0 && operation_flags != REQ_PREFLUSH"
    // or "nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST".
    const unsigned nseg = copy.nr_segments;
    const bool flushes = req.kind == IoKind::flush || req.kind == IoKind::barrier;
    if (nseg == 0 && !flushes) {
        return refuse(check, BlkifStatus::error, "a read or write with no segment");
    }
    if (nseg > xen::kBlkifMaxSegmentsPerRequest) {
        return refuse(check, BlkifStatus::error, "more than 11 segments");
    }
    req.nr_segments = static_cast<std::uint16_t>(nseg);
    req.sector_number = copy.sector_number;
    for (unsigned i = 0; i < nseg; ++i) {
        req.seg[i] = copy.seg[i];
    }
    std::string_view reason;
    if (const BlkifStatus status = check_segments(req, req.seg, limits, reason);
        status != BlkifStatus::okay) {
        // The read-only refusal comes first, as xen_vbd_translate's does.
        if (req.kind != IoKind::read && limits.read_only) {
            return refuse(check, BlkifStatus::error, "a write to a read-only vbd");
        }
        return refuse(check, status, reason);
    }
    // xen_vbd_translate: no write of any kind to a read-only vbd.
    if (req.kind != IoKind::read && limits.read_only) {
        return refuse(check, BlkifStatus::error, "a write to a read-only vbd");
    }
    if (req.kind == IoKind::flush && !limits.flush) {
        return refuse(check, BlkifStatus::eopnotsupp, "the store has no cache to flush");
    }
    if (req.kind == IoKind::barrier && !limits.barrier) {
        // "feature-barrier" is 0: Linux answers what it does not offer with
        // EOPNOTSUPP.
        return refuse(check, BlkifStatus::eopnotsupp, "write barriers are not offered");
    }
    return check;
}

}  // namespace pvsim::backend::blkback
