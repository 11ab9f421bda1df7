// The I/Os an engine has taken and not yet handed back: a fixed table of
// queue-depth slots, so that a burst of requests costs no allocation (each
// slot keeps its iovec array's capacity from one use to the next), and the
// rules both engines share for turning system-call results into one
// completion per request.
//
// Short transfers: preadv(2)/pwritev(2) and io_uring's READV/WRITEV may move
// fewer bytes than asked (a signal, a partial write, a device limit). A
// request is then continued from where it stopped until it is whole, the
// file ends (a read that returns 0) or an error stops it, so its result is
// what a caller of pread(2) on a regular file sees: all the bytes, or the
// bytes up to the end of the file.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace pvsim::backend::storage {

enum class IoOp : std::uint8_t { read, write, flush, discard, write_zeroes };

struct IoRequest {
    std::uint64_t tag = 0;
    IoOp op = IoOp::read;
    // write_zeroes only: the range may be deallocated (virtio-blk's
    // VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP).
    bool may_unmap = false;
    std::uint64_t offset = 0;
    // Bytes the request covers: the sum of the iovecs for read and write.
    std::uint64_t length = 0;
    // A copy of the caller's iovecs; iov[first..] with iov[first] trimmed at
    // its front are the bytes still to transfer.
    std::vector<iovec> iov;
    std::size_t first = 0;
    // Bytes transferred so far.
    std::uint64_t done = 0;

    bool is_transfer() const noexcept { return op == IoOp::read || op == IoOp::write; }
    // What is left of the transfer, and the file offset it starts at.
    std::span<const iovec> remaining_iov() const noexcept {
        return std::span<const iovec>(iov).subspan(first);
    }
    std::uint64_t next_offset() const noexcept { return offset + done; }

    // Takes one system-call result (bytes or -errno) for this request: the
    // request's final result, or nullopt when a transfer stopped short and
    // must be continued from remaining_iov() at next_offset().
    std::optional<std::int64_t> settle(std::int64_t result) noexcept;
};

class RequestTable {
  public:
    // `depth` slots (at least 1).
    explicit RequestTable(unsigned depth);

    unsigned depth() const noexcept { return static_cast<unsigned>(slots_.size()); }
    unsigned in_flight() const noexcept { return depth() - static_cast<unsigned>(free_.size()); }
    bool full() const noexcept { return free_.empty(); }

    // Fill a free slot and return its index; nullopt when every slot is taken.
    std::optional<std::uint32_t> add_transfer(IoOp op, std::uint64_t tag, std::uint64_t offset,
                                              std::span<const iovec> iov);
    std::optional<std::uint32_t> add_flush(std::uint64_t tag);
    std::optional<std::uint32_t> add_range(IoOp op, std::uint64_t tag, std::uint64_t offset,
                                           std::uint64_t length, bool may_unmap);

    IoRequest& operator[](std::uint32_t index) noexcept { return slots_[index]; }
    const IoRequest& operator[](std::uint32_t index) const noexcept { return slots_[index]; }

    // Frees the slot; returns the tag it carried.
    std::uint64_t release(std::uint32_t index) noexcept;

  private:
    std::optional<std::uint32_t> take(IoOp op, std::uint64_t tag, std::uint64_t offset);

    std::vector<IoRequest> slots_;
    std::vector<std::uint32_t> free_;
};

}  // namespace pvsim::backend::storage
