#include "backend/storage/io_request.hpp"

#include <stdexcept>

namespace pvsim::backend::storage {
namespace {

// BLKIF_MAX_SEGMENTS_PER_REQUEST (xen/io/blkif.h): a slot holds a plain
// blkif request's segments without growing; indirect requests grow it once.
constexpr std::size_t kUsualSegments = 11;

}  // namespace

std::optional<std::int64_t> IoRequest::settle(std::int64_t result) noexcept {
    if (!is_transfer()) {
        return result;
    }
    if (result < 0) {
        // As pread(2): an error after some bytes moved reports those bytes.
        return done > 0 ? static_cast<std::int64_t>(done) : result;
    }
    if (result == 0) {
        // End of file (or a device that took nothing): what moved is final.
        return static_cast<std::int64_t>(done);
    }
    done += static_cast<std::uint64_t>(result);
    if (done >= length) {
        return static_cast<std::int64_t>(done);
    }
    // Short: drop the iovecs wholly transferred, trim the one cut in two.
    auto moved = static_cast<std::size_t>(result);
    while (first < iov.size() && moved >= iov[first].iov_len) {
        moved -= iov[first].iov_len;
        ++first;
    }
    if (moved > 0) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + moved;
        iov[first].iov_len -= moved;
    }
    return std::nullopt;
}

RequestTable::RequestTable(unsigned depth) : slots_(depth) {
    if (depth == 0) {
        throw std::invalid_argument("I/O queue depth must be at least 1");
    }
    free_.reserve(depth);
    for (unsigned i = depth; i-- > 0;) {
        free_.push_back(i);
        slots_[i].iov.reserve(kUsualSegments);
    }
}

std::optional<std::uint32_t> RequestTable::take(IoOp op, std::uint64_t tag, std::uint64_t offset) {
    if (free_.empty()) {
        return std::nullopt;
    }
    const std::uint32_t index = free_.back();
    free_.pop_back();
    IoRequest& request = slots_[index];
    request.tag = tag;
    request.op = op;
    request.may_unmap = false;
    request.offset = offset;
    request.length = 0;
    request.iov.clear();
    request.first = 0;
    request.done = 0;
    return index;
}

std::optional<std::uint32_t> RequestTable::add_transfer(IoOp op, std::uint64_t tag,
                                                        std::uint64_t offset,
                                                        std::span<const iovec> iov) {
    const auto index = take(op, tag, offset);
    if (index) {
        IoRequest& request = slots_[*index];
        request.iov.assign(iov.begin(), iov.end());
        for (const iovec& segment : iov) {
            request.length += segment.iov_len;
        }
    }
    return index;
}

std::optional<std::uint32_t> RequestTable::add_flush(std::uint64_t tag) {
    return take(IoOp::flush, tag, 0);
}

std::optional<std::uint32_t> RequestTable::add_range(IoOp op, std::uint64_t tag,
                                                     std::uint64_t offset, std::uint64_t length,
                                                     bool may_unmap) {
    const auto index = take(op, tag, offset);
    if (index) {
        slots_[*index].length = length;
        slots_[*index].may_unmap = may_unmap;
    }
    return index;
}

std::uint64_t RequestTable::release(std::uint32_t index) noexcept {
    free_.push_back(index);
    return slots_[index].tag;
}

}  // namespace pvsim::backend::storage
