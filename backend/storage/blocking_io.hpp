// Each I/O operation done with blocking system calls: how ThreadPoolEngine's
// workers run every request, and how IoUringEngine runs what io_uring has no
// operation for (BLKDISCARD and BLKZEROOUT are ioctls; Linux blkback itself
// issues discards synchronously from its ring thread, dispatch_discard_io()
// in xen-blkback/blkback.c).
#pragma once

#include <cstdint>
#include <optional>

#include "backend/storage/io_engine.hpp"
#include "backend/storage/io_request.hpp"

namespace pvsim::backend::storage {

// Runs `request` to its end on `target`: preadv(2)/pwritev(2) continued over
// short transfers, fdatasync(2), fallocate(2), or ioctl(BLKDISCARD /
// BLKZEROOUT). Returns the request's result (bytes, 0, or -errno); never
// throws.
std::int64_t run_blocking(IoTarget target, IoRequest& request) noexcept;

// Moves what it can of a read or write without waiting: one preadv2(2) or
// pwritev2(2) with RWF_NOWAIT, which the kernel serves only from the page
// cache (a read of cached pages, a write into them) and refuses with EAGAIN
// rather than wait for a device or a lock. Returns the request's final
// result when it ended here; nullopt when the rest must be waited for (from
// remaining_iov(), at next_offset()), with `unsupported` set when the file
// cannot do it at all (EOPNOTSUPP: tmpfs, or ext4's buffered writes up to
// at least Linux 6.18). Any other failure is left to the wait too, whose result is
// the one the caller gets. Never throws.
std::optional<std::int64_t> transfer_nowait(int fd, IoRequest& request, bool& unsupported) noexcept;

// The fallocate(2) mode that discards (punches a hole in) or zeroes a range
// of a file without changing its size.
int fallocate_mode(const IoRequest& request) noexcept;

}  // namespace pvsim::backend::storage
