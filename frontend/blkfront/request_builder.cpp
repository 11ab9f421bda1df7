#include "frontend/blkfront/request_builder.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace pvsim::frontend::blkfront {

std::uint64_t BlkifRequestPlan::sectors() const noexcept {
    std::uint64_t total = 0;
    for (const SegmentPlan& segment : segments) {
        total += segment.sectors();
    }
    return total;
}

std::vector<BlkifRequestPlan> plan_requests(BlockOperation operation, std::uint64_t sector,
                                            const GuestBuffer* buffer,
                                            xen::BlkifOp flush_operation) {
    if (operation == BlockOperation::flush) {
        if (buffer != nullptr && buffer->length != 0) {
            throw std::invalid_argument("a flush carries no data buffer");
        }
        // blkif.h: a flush (or an empty barrier) has nr_segments 0.
        BlkifRequestPlan plan;
        plan.operation = flush_operation;
        plan.sector = sector;
        return {plan};
    }
    if (buffer == nullptr) {
        throw std::invalid_argument("a read or write needs a data buffer");
    }
    if (buffer->length == 0 || buffer->length % xen::kBlkifSectorSize != 0) {
        throw std::invalid_argument("buffer length " + std::to_string(buffer->length) +
                                    " is not a non-zero multiple of 512 bytes");
    }
    if (buffer->length > buffer->pages.size() * xen::kXenPageSize) {
        throw std::invalid_argument("buffer length " + std::to_string(buffer->length) +
                                    " exceeds its " + std::to_string(buffer->pages.size()) +
                                    " pages");
    }
    const xen::BlkifOp op =
        operation == BlockOperation::write ? xen::BlkifOp::write : xen::BlkifOp::read;

    std::vector<BlkifRequestPlan> plans;
    std::uint64_t remaining = buffer_sectors(*buffer);
    std::uint64_t next_sector = sector;
    for (std::size_t page = 0; remaining > 0; ++page) {
        if (plans.empty() || plans.back().segments.size() == xen::kBlkifMaxSegmentsPerRequest) {
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

}  // namespace pvsim::frontend::blkfront
