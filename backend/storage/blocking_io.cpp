#include "backend/storage/blocking_io.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace pvsim::backend::storage {
namespace {

std::int64_t result_of(long ret) noexcept {
    return ret < 0 ? -static_cast<std::int64_t>(errno) : static_cast<std::int64_t>(ret);
}

std::int64_t transfer(int fd, IoRequest& request) noexcept {
    for (;;) {
        const auto iov = request.remaining_iov();
        // More than IOV_MAX iovecs is refused by the kernel (EINVAL), as
        // io_uring refuses it; an empty list moves nothing.
        const int count = static_cast<int>(std::min<std::size_t>(iov.size(), INT_MAX));
        const auto offset = static_cast<off_t>(request.next_offset());
        const ssize_t ret = request.op == IoOp::read ? ::preadv(fd, iov.data(), count, offset)
                                                     : ::pwritev(fd, iov.data(), count, offset);
        if (ret < 0 && errno == EINTR) {
            continue;
        }
        if (const auto final = request.settle(result_of(ret))) {
            return *final;
        }
    }
}

std::int64_t range_ioctl(int fd, const IoRequest& request) noexcept {
    // Both take {start, length} in bytes (linux/fs.h); the block layer
    // drops the page cache of the range first.
    std::uint64_t range[2] = {request.offset, request.length};
    const unsigned long command = request.op == IoOp::discard ? BLKDISCARD : BLKZEROOUT;
    int ret;
    do {
        ret = ::ioctl(fd, command, range);
    } while (ret < 0 && errno == EINTR);
    return result_of(ret);
}

}  // namespace

std::optional<std::int64_t> transfer_nowait(int fd, IoRequest& request,
                                            bool& unsupported) noexcept {
    const auto iov = request.remaining_iov();
    const int count = static_cast<int>(std::min<std::size_t>(iov.size(), INT_MAX));
    const auto offset = static_cast<off_t>(request.next_offset());
    const ssize_t ret = request.op == IoOp::read
                            ? ::preadv2(fd, iov.data(), count, offset, RWF_NOWAIT)
                            : ::pwritev2(fd, iov.data(), count, offset, RWF_NOWAIT);
    if (ret < 0) {
        unsupported = errno == EOPNOTSUPP;
        return std::nullopt;
    }
    // A short transfer means the next page is not there to use without
    // waiting: settle() keeps what moved and the rest is waited for.
    return request.settle(ret);
}

int fallocate_mode(const IoRequest& request) noexcept {
    if (request.op == IoOp::write_zeroes && !request.may_unmap) {
        return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    }
    return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

std::int64_t run_blocking(IoTarget target, IoRequest& request) noexcept {
    switch (request.op) {
        case IoOp::read:
        case IoOp::write:
            return transfer(target.fd, request);
        case IoOp::flush: {
            int ret;
            do {
                ret = ::fdatasync(target.fd);
            } while (ret < 0 && errno == EINTR);
            return result_of(ret);
        }
        case IoOp::discard:
        case IoOp::write_zeroes: {
            if (target.block_device) {
                return range_ioctl(target.fd, request);
            }
            int ret;
            do {
                ret = ::fallocate(target.fd, fallocate_mode(request),
                                  static_cast<off_t>(request.offset),
                                  static_cast<off_t>(request.length));
            } while (ret < 0 && errno == EINTR);
            return result_of(ret);
        }
    }
    return -EINVAL;
}

}  // namespace pvsim::backend::storage
