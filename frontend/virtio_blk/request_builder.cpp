#include "frontend/virtio_blk/request_builder.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

#include "frontend/request_check.hpp"
#include "frontend/virtio_blk/guest_page.hpp"

namespace pvsim::frontend::virtio_blk {

std::uint64_t VirtioBlkRequestPlan::data_bytes() const noexcept {
    std::uint64_t total = 0;
    for (const DataSegment& segment : data) {
        total += segment.len;
    }
    return total;
}

std::vector<VirtioBlkRequestPlan> plan_requests(const BlockRequest& request,
                                                const RequestLimits& limits) {
    if (limits.max_segments == 0 || limits.max_segment_bytes < kPageSize ||
        limits.max_discard_sectors == 0) {
        throw std::invalid_argument(
            "request limits: no segment, segments under a page, or "
            "discards of no sector");
    }
    if (auto why = malformed(request)) {
        throw std::invalid_argument(*why);
    }
    if (request.operation == BlockOperation::flush) {
        // §5.2.6.1: a flush's sector is 0 (Linux's virtblk_setup_cmd).
        VirtioBlkRequestPlan flush;
        flush.type = virtio::BlkReqType::flush;
        return {flush};
    }
    if (request.operation == BlockOperation::discard) {
        std::vector<VirtioBlkRequestPlan> plans;
        std::uint64_t sector = request.sector;
        std::uint64_t remaining = request.discard_sectors;
        while (remaining > 0) {
            const auto count = static_cast<std::uint32_t>(
                std::min<std::uint64_t>(remaining, limits.max_discard_sectors));
            plans.push_back(VirtioBlkRequestPlan{.type = virtio::BlkReqType::discard,
                                                 .sector = sector,
                                                 .data = {},
                                                 .discard_sectors = count});
            sector += count;
            remaining -= count;
        }
        return plans;
    }
    const GuestBuffer* buffer = request.buffer;
    const virtio::BlkReqType type = request.operation == BlockOperation::write
                                        ? virtio::BlkReqType::out
                                        : virtio::BlkReqType::in;
    std::vector<VirtioBlkRequestPlan> plans;
    std::uint64_t next_sector = request.sector;
    std::size_t remaining = buffer->length;
    for (std::size_t page = 0; remaining > 0; ++page) {
        const auto len = static_cast<std::uint32_t>(std::min(remaining, kPageSize));
        const std::uint64_t gpa = guest_physical(buffer->pages[page]);
        VirtioBlkRequestPlan* plan = plans.empty() ? nullptr : &plans.back();
        DataSegment* last = plan != nullptr ? &plan->data.back() : nullptr;
        if (last != nullptr && last->gpa + last->len == gpa && last->len % kPageSize == 0 &&
            std::uint64_t{last->len} + len <= limits.max_segment_bytes) {
            last->len += len;  // the next frame continues this run
        } else {
            if (plan == nullptr || plan->data.size() == limits.max_segments) {
                if (plan != nullptr) {
                    next_sector += plan->data_bytes() / virtio::kSectorSize;
                }
                plans.push_back(VirtioBlkRequestPlan{
                    .type = type, .sector = next_sector, .data = {}, .discard_sectors = 0});
                plan = &plans.back();
            }
            plan->data.push_back(DataSegment{.gpa = gpa, .len = len});
        }
        remaining -= len;
    }
    return plans;
}

int status_errno(std::uint8_t status) noexcept {
    switch (static_cast<virtio::BlkStatus>(status)) {
        case virtio::BlkStatus::ok:
            return 0;
        case virtio::BlkStatus::unsupp:
            return -EOPNOTSUPP;
        case virtio::BlkStatus::ioerr:
            break;
    }
    return -EIO;
}

}  // namespace pvsim::frontend::virtio_blk
