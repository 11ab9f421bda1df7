// Each I/O operation done with blocking system calls: how ThreadPoolEngine's
// workers run every request, and how IoUringEngine runs what io_uring has no
// operation for (BLKDISCARD and BLKZEROOUT are ioctls; Linux blkback itself
// issues discards synchronously from its ring thread, dispatch_discard_io()
// in xen-blkback/blkback.c).
#pragma once

#include <cstdint>

#include "backend/storage/io_engine.hpp"
#include "backend/storage/io_request.hpp"

namespace pvsim::backend::storage {

// Runs `request` to its end on `target`: preadv(2)/pwritev(2) continued over
// short transfers, fdatasync(2), fallocate(2), or ioctl(BLKDISCARD /
// BLKZEROOUT). Returns the request's result (bytes, 0, or -errno); never
// throws.
std::int64_t run_blocking(IoTarget target, IoRequest& request) noexcept;

// The fallocate(2) mode that discards (punches a hole in) or zeroes a range
// of a file without changing its size.
int fallocate_mode(const IoRequest& request) noexcept;

}  // namespace pvsim::backend::storage
