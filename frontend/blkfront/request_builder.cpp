#include "frontend/blkfront/request_builder.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "frontend/request_check.hpp"

namespace pvsim::frontend::blkfront {

std::uint64_t BlkifRequestPlan::sectors() const noexcept {
    if (operation == xen::BlkifOp::discard) {
        return discard_sectors;
    }
    std::uint64_t total = 0;
    for (const SegmentPlan& segment : segments) {
        total += segment.sectors();
    }
    return total;
}

namespace {

// bio_discard_limit: the sectors the discard request starting at `sector`
// may cover.
std::uint64_t discard_limit(std::uint64_t sector, std::uint64_t granularity_sectors) {
    const std::uint64_t aligned =
        (sector + granularity_sectors - 1) / granularity_sectors * granularity_sectors;
    if (aligned != sector) {
        return aligned - sector;
    }
    constexpr std::uint64_t kUintMax = 0xffffffffu;
    const std::uint64_t granularity_bytes = granularity_sectors * xen::kBlkifSectorSize;
    return kUintMax / granularity_bytes * granularity_bytes / xen::kBlkifSectorSize;
}

}  // namespace

std::vector<BlkifRequestPlan> plan_requests(BlockOperation operation, std::uint64_t sector,
                                            const GuestBuffer* buffer, xen::BlkifOp flush_operation,
                                            unsigned max_segments, std::uint64_t discard_sectors,
                                            std::uint32_t discard_granularity) {
    if (max_segments < xen::kBlkifMaxSegmentsPerRequest ||
        max_segments > xen::kBlkifMaxIndirectSegments) {
        throw std::invalid_argument("max_segments " + std::to_string(max_segments) +
                                    " is not from 11 to " +
                                    std::to_string(xen::kBlkifMaxIndirectSegments));
    }
    const BlockRequest whole{.operation = operation,
                             .sector = sector,
                             .buffer = buffer,
                             .discard_sectors = discard_sectors,
                             .done = {}};
    if (auto why = malformed(whole)) {
        throw std::invalid_argument(*why);
    }
    if (operation == BlockOperation::discard) {
        const std::uint64_t granularity =
            std::max<std::uint64_t>(discard_granularity / xen::kBlkifSectorSize, 1);
        std::vector<BlkifRequestPlan> plans;
        for (std::uint64_t next = sector, left = discard_sectors; left != 0;) {
            BlkifRequestPlan plan;
            plan.operation = xen::BlkifOp::discard;
            plan.sector = next;
            plan.discard_sectors = std::min(left, discard_limit(next, granularity));
            next += plan.discard_sectors;
            left -= plan.discard_sectors;
            plans.push_back(std::move(plan));
        }
        return plans;
    }
    if (operation == BlockOperation::flush) {
        // blkif.h: a flush (or an empty barrier) has nr_segments 0.
        BlkifRequestPlan plan;
        plan.operation = flush_operation;
        plan.sector = sector;
        return {plan};
    }
    const xen::BlkifOp op =
        operation == BlockOperation::write ? xen::BlkifOp::write : xen::BlkifOp::read;

    std::vector<BlkifRequestPlan> plans;
    std::uint64_t remaining = buffer_sectors(*buffer);
    std::uint64_t next_sector = sector;
    for (std::size_t page = 0; remaining > 0; ++page) {
        if (plans.empty() || plans.back().segments.size() == max_segments) {
            BlkifRequestPlan plan;
            plan.operation = op;
            plan.sector = next_sector;
            plans.push_back(plan);
        }
        // The data starts at the first page's first byte, so every page is
        // used from sector 0; only the last one may end early.
        const auto count =
            static_cast<unsigned>(std::min<std::uint64_t>(remaining, xen::kBlkifSectorsPerFrame));
        plans.back().segments.push_back(
            SegmentPlan{buffer->pages[page], 0, static_cast<std::uint8_t>(count - 1)});
        remaining -= count;
        next_sector += count;
    }
    return plans;
}

xen::BlkifRequest make_blkif_request(const BlkifRequestPlan& plan, std::uint64_t id,
                                     xen::BlkifVdev handle, std::span<const xen::GrantRef> grefs) {
    if (grefs.size() != plan.segments.size()) {
        throw std::invalid_argument("blkif request: " + std::to_string(plan.segments.size()) +
                                    " segments but " + std::to_string(grefs.size()) +
                                    " grant refs");
    }
    if (plan.operation == xen::BlkifOp::discard) {
        if (!grefs.empty()) {
            throw std::invalid_argument("blkif discard request: no grant refs expected");
        }
        xen::BlkifRequestDiscard discard{};
        discard.operation = xen::BlkifOp::discard;
        discard.flag = 0;  // discard-secure is never asked for
        discard.handle = handle;
        discard.id = id;
        discard.sector_number = plan.sector;
        discard.nr_sectors = plan.discard_sectors;
        return xen::blkif_request_slot(discard);
    }
    if (plan.indirect()) {
        throw std::invalid_argument("blkif request: " + std::to_string(plan.segments.size()) +
                                    " segments need an indirect request");
    }
    xen::BlkifRequest request{};
    request.operation = plan.operation;
    request.nr_segments = static_cast<std::uint8_t>(plan.segments.size());
    request.handle = handle;
    request.id = id;
    request.sector_number = plan.sector;
    for (std::size_t i = 0; i < plan.segments.size(); ++i) {
        request.seg[i].gref = grefs[i];
        request.seg[i].first_sect = plan.segments[i].first_sect;
        request.seg[i].last_sect = plan.segments[i].last_sect;
    }
    return request;
}

xen::BlkifRequest make_indirect_request(const BlkifRequestPlan& plan, std::uint64_t id,
                                        xen::BlkifVdev handle,
                                        std::span<const xen::GrantRef> indirect_grefs) {
    if (plan.operation != xen::BlkifOp::read && plan.operation != xen::BlkifOp::write) {
        throw std::invalid_argument("blkif indirect request: only reads and writes are indirect");
    }
    if (plan.segments.empty() || plan.segments.size() > xen::kBlkifMaxIndirectSegments ||
        indirect_grefs.size() !=
            xen::blkif_indirect_frames(static_cast<unsigned>(plan.segments.size()))) {
        throw std::invalid_argument(
            "blkif indirect request: " + std::to_string(plan.segments.size()) + " segments but " +
            std::to_string(indirect_grefs.size()) + " indirect frames");
    }
    xen::BlkifRequestIndirect request{};
    request.operation = xen::BlkifOp::indirect;
    request.indirect_op = plan.operation;
    request.nr_segments = static_cast<std::uint16_t>(plan.segments.size());
    request.id = id;
    request.sector_number = plan.sector;
    request.handle = handle;
    for (std::size_t i = 0; i < indirect_grefs.size(); ++i) {
        request.indirect_grefs[i] = indirect_grefs[i];
    }
    return xen::blkif_request_slot(request);
}

void write_indirect_segments(const BlkifRequestPlan& plan, std::span<const xen::GrantRef> grefs,
                             std::span<std::byte* const> frames) {
    if (grefs.size() != plan.segments.size() ||
        frames.size() != xen::blkif_indirect_frames(static_cast<unsigned>(plan.segments.size()))) {
        throw std::invalid_argument("indirect segments: " + std::to_string(plan.segments.size()) +
                                    " segments, " + std::to_string(grefs.size()) + " refs, " +
                                    std::to_string(frames.size()) + " frames");
    }
    for (std::byte* frame : frames) {
        std::memset(frame, 0, xen::kXenPageSize);
    }
    for (std::size_t i = 0; i < plan.segments.size(); ++i) {
        xen::BlkifRequestSegment segment{};
        segment.gref = grefs[i];
        segment.first_sect = plan.segments[i].first_sect;
        segment.last_sect = plan.segments[i].last_sect;
        std::memcpy(frames[i / xen::kBlkifSegmentsPerIndirectFrame] +
                        (i % xen::kBlkifSegmentsPerIndirectFrame) * sizeof segment,
                    &segment, sizeof segment);
    }
}

}  // namespace pvsim::frontend::blkfront
