#include "backend/vhost_user_blk/blk_request.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace pvsim::backend::vhost_user_blk {
namespace {

using virtio::BlkFeature;
using virtio::BlkReqType;
using virtio::BlkStatus;

// The iovecs of bytes [from, to) of the chain's readable (or writable)
// sequence.
void slice(const DescChain& chain, bool writable, std::uint64_t from, std::uint64_t to,
           std::vector<iovec>& out) {
    out.clear();
    std::uint64_t at = 0;
    for (const ChainBuffer& b : chain.buffers) {
        if (b.writable != writable) {
            continue;
        }
        const std::uint64_t start = std::max(at, from);
        const std::uint64_t end = std::min<std::uint64_t>(at + b.len, to);
        if (start < end) {
            out.push_back(iovec{b.data + (start - at), static_cast<std::size_t>(end - start)});
        }
        at += b.len;
        if (at >= to) {
            break;
        }
    }
}

// Copies the first `size` readable bytes of the chain into `dest`.
void copy_readable(const DescChain& chain, void* dest, std::size_t size) {
    auto* d = static_cast<std::byte*>(dest);
    for (const ChainBuffer& b : chain.buffers) {
        if (b.writable || size == 0) {
            break;
        }
        const std::size_t n = std::min<std::size_t>(size, b.len);
        std::memcpy(d, b.data, n);
        d += n;
        size -= n;
    }
}

ParseResult answer(BlkStatus status, std::string reason) {
    return ParseResult{Disposition::answer, status, std::move(reason)};
}

bool in_capacity(std::uint64_t sector, std::uint64_t sectors, const BlkLimits& limits) {
    return sector <= limits.capacity_sectors && sectors <= limits.capacity_sectors - sector;
}

ParseResult check_transfer(const BlkRequest& r, std::uint64_t wrong_way_bytes, bool write,
                           const BlkLimits& limits) {
    const char* what = write ? "VIRTIO_BLK_T_OUT" : "VIRTIO_BLK_T_IN";
    if (wrong_way_bytes != 0) {
        return answer(BlkStatus::ioerr,
                      fmt::format("{} with {} data bytes in the wrong direction ({})", what,
                                  wrong_way_bytes, write ? "device-writable" : "device-readable"));
    }
    if (write && limits.read_only) {
        return answer(BlkStatus::ioerr, "VIRTIO_BLK_T_OUT to a read-only device");
    }
    if (r.data_bytes == 0 || r.data_bytes % virtio::kSectorSize != 0) {
        return answer(BlkStatus::ioerr, fmt::format("{} of {} bytes, not a positive number of "
                                                    "512-byte sectors",
                                                    what, r.data_bytes));
    }
    if (r.data_bytes > limits.max_request_bytes) {
        return answer(BlkStatus::ioerr, fmt::format("{} of {} bytes, more than {}", what,
                                                    r.data_bytes, limits.max_request_bytes));
    }
    if (!in_capacity(r.sector, r.data_bytes / virtio::kSectorSize, limits)) {
        return answer(BlkStatus::ioerr,
                      fmt::format("{} at sector {} + {} bytes is past the capacity ({} sectors)",
                                  what, r.sector, r.data_bytes, limits.capacity_sectors));
    }
    return {};
}

ParseResult check_range(BlkRequest& r, const DescChain& chain, std::uint64_t out_bytes,
                        bool discard, const BlkLimits& limits) {
    const char* what = discard ? "VIRTIO_BLK_T_DISCARD" : "VIRTIO_BLK_T_WRITE_ZEROES";
    if (limits.read_only) {
        return answer(BlkStatus::ioerr, fmt::format("{} on a read-only device", what));
    }
    const std::uint32_t max_seg = discard ? limits.max_discard_seg : limits.max_write_zeroes_seg;
    const std::uint64_t size = sizeof(virtio::VirtioBlkDiscardWriteZeroes);
    if (out_bytes == 0 || out_bytes % size != 0 || out_bytes / size > max_seg) {
        return answer(BlkStatus::ioerr,
                      fmt::format("{} with {} bytes of ranges (at most {} of {} bytes)", what,
                                  out_bytes, max_seg, size));
    }
    std::byte raw[sizeof(virtio::VirtioBlkDiscardWriteZeroes) + sizeof(virtio::VirtioBlkOutHdr)];
    copy_readable(chain, raw, sizeof(raw));
    std::memcpy(&r.range, raw + sizeof(virtio::VirtioBlkOutHdr), sizeof(r.range));
    const std::uint32_t allowed = discard ? 0 : virtio::kBlkWriteZeroesFlagUnmap;
    if ((r.range.flags & ~allowed) != 0) {
        // §5.2.6.2: UNSUPP for a discard with the unmap flag, and for
        // reserved flags.
        return answer(BlkStatus::unsupp, fmt::format("{} with flags 0x{:x}", what, r.range.flags));
    }
    const std::uint32_t max_sectors =
        discard ? limits.max_discard_sectors : limits.max_write_zeroes_sectors;
    if (r.range.num_sectors > max_sectors) {
        return answer(BlkStatus::ioerr, fmt::format("{} of {} sectors, more than {}", what,
                                                    r.range.num_sectors, max_sectors));
    }
    if (!in_capacity(r.range.sector, r.range.num_sectors, limits)) {
        return answer(BlkStatus::ioerr,
                      fmt::format("{} at sector {} + {} is past the capacity ({} sectors)", what,
                                  r.range.sector, r.range.num_sectors, limits.capacity_sectors));
    }
    return {};
}

}  // namespace

ParseResult parse_request(const DescChain& chain, const BlkLimits& limits, std::uint64_t features,
                          BlkRequest& out) {
    out.type = 0;
    out.sector = 0;
    out.data.clear();
    out.data_bytes = 0;
    out.status = nullptr;
    out.range = {};
    if (chain.writable_bytes == 0 || chain.buffers.empty() || !chain.buffers.back().writable) {
        return ParseResult{Disposition::drop, BlkStatus::ioerr,
                           "the chain has no device-writable status byte"};
    }
    const ChainBuffer& last = chain.buffers.back();
    out.status = last.data + last.len - 1;

    constexpr std::uint64_t kHdr = sizeof(virtio::VirtioBlkOutHdr);
    if (chain.readable_bytes < kHdr) {
        return answer(BlkStatus::ioerr, fmt::format("the request header is {} bytes, not {}",
                                                    chain.readable_bytes, kHdr));
    }
    virtio::VirtioBlkOutHdr hdr;
    copy_readable(chain, &hdr, sizeof(hdr));
    out.type = hdr.type;
    out.sector = hdr.sector;
    const std::uint64_t out_bytes = chain.readable_bytes - kHdr;  // after the header
    const std::uint64_t in_bytes = chain.writable_bytes - 1;      // before the status

    switch (static_cast<BlkReqType>(hdr.type)) {
        case BlkReqType::in:
            slice(chain, true, 0, in_bytes, out.data);
            out.data_bytes = in_bytes;
            return check_transfer(out, out_bytes, false, limits);
        case BlkReqType::out:
            slice(chain, false, kHdr, chain.readable_bytes, out.data);
            out.data_bytes = out_bytes;
            return check_transfer(out, in_bytes, true, limits);
        case BlkReqType::flush:
            if (!virtio::has_feature(features, BlkFeature::flush)) {
                return answer(BlkStatus::unsupp, "VIRTIO_BLK_F_FLUSH was not negotiated");
            }
            return {};
        case BlkReqType::get_id:
            if (in_bytes == 0) {
                return answer(BlkStatus::ioerr, "VIRTIO_BLK_T_GET_ID without a buffer for the id");
            }
            slice(chain, true, 0, in_bytes, out.data);
            out.data_bytes = in_bytes;
            return {};
        case BlkReqType::discard:
        case BlkReqType::write_zeroes: {
            const bool discard = hdr.type == static_cast<std::uint32_t>(BlkReqType::discard);
            if (!virtio::has_feature(features,
                                     discard ? BlkFeature::discard : BlkFeature::write_zeroes)) {
                return answer(
                    BlkStatus::unsupp,
                    fmt::format("{} was not negotiated",
                                discard ? "VIRTIO_BLK_F_DISCARD" : "VIRTIO_BLK_F_WRITE_ZEROES"));
            }
            return check_range(out, chain, out_bytes, discard, limits);
        }
        default:
            break;
    }
    return answer(BlkStatus::unsupp, fmt::format("request type {} ({}) is not supported", hdr.type,
                                                 virtio::name(static_cast<BlkReqType>(hdr.type))));
}

void write_status(std::byte* status, virtio::BlkStatus value) noexcept {
    std::atomic_ref<std::uint8_t>(*reinterpret_cast<std::uint8_t*>(status))
        .store(static_cast<std::uint8_t>(value), std::memory_order_relaxed);
}

std::size_t copy_to_data(const BlkRequest& request, const void* bytes, std::size_t size) noexcept {
    const auto* src = static_cast<const std::byte*>(bytes);
    std::size_t done = 0;
    for (const iovec& v : request.data) {
        if (done == size) {
            break;
        }
        const std::size_t n = std::min(size - done, v.iov_len);
        std::memcpy(v.iov_base, src + done, n);
        done += n;
    }
    return done;
}

}  // namespace pvsim::backend::vhost_user_blk
