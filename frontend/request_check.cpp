#include "frontend/request_check.hpp"

#include <cerrno>

namespace pvsim::frontend {
namespace {

// blkif and virtio-blk both count in 512-byte sectors, whatever the disk's
// logical sector size (blkif.h; virtio 1.2 §5.2.6).
constexpr std::size_t kSectorBytes = 512;
constexpr std::size_t kPageBytes = 4096;

}  // namespace

std::optional<std::string> malformed(const BlockRequest& request) {
    const GuestBuffer* buffer = request.buffer;
    switch (request.operation) {
        case BlockOperation::flush:
        case BlockOperation::discard:
            if (buffer != nullptr && buffer->length != 0) {
                return std::string("a ") +
                       (request.operation == BlockOperation::flush ? "flush" : "discard") +
                       " carries no data buffer";
            }
            if (request.operation == BlockOperation::discard && request.discard_sectors == 0) {
                return "a discard of no sectors";
            }
            return std::nullopt;
        case BlockOperation::read:
        case BlockOperation::write:
            break;
    }
    if (buffer == nullptr) {
        return "a read or write needs a data buffer";
    }
    if (buffer->length == 0 || buffer->length % kSectorBytes != 0) {
        return "buffer length " + std::to_string(buffer->length) +
               " is not a non-zero multiple of 512 bytes";
    }
    if (buffer->length > buffer->pages.size() * kPageBytes) {
        return "buffer length " + std::to_string(buffer->length) + " exceeds its " +
               std::to_string(buffer->pages.size()) + " pages";
    }
    return std::nullopt;
}

std::uint64_t request_sectors(const BlockRequest& request) noexcept {
    switch (request.operation) {
        case BlockOperation::flush:
            return 0;
        case BlockOperation::discard:
            return request.discard_sectors;
        case BlockOperation::read:
        case BlockOperation::write:
            break;
    }
    return request.buffer == nullptr ? 0 : request.buffer->length / kSectorBytes;
}

int check_request(const BlockRequest& request, std::uint64_t capacity, std::string& why) {
    if (auto wrong = malformed(request)) {
        why = std::move(*wrong);
        return -EINVAL;
    }
    if (request.operation == BlockOperation::flush) {
        return 0;
    }
    const std::uint64_t sectors = request_sectors(request);
    if (request.sector > capacity || sectors > capacity - request.sector) {
        why = "sectors " + std::to_string(request.sector) + "+" + std::to_string(sectors) +
              " lie past the end (" + std::to_string(capacity) + " sectors)";
        return -EIO;
    }
    return 0;
}

}  // namespace pvsim::frontend
