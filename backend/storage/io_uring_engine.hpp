// IoEngine on io_uring through liburing (io_uring_setup(2), io_uring_enter(2)):
// reads and writes as IORING_OP_READV / IORING_OP_WRITEV, flush as
// IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, file discard and write-zeroes
// as IORING_OP_FALLOCATE. io_uring has no discard operation for block
// devices on the kernels pvsim targets (6.1), so BLKDISCARD and BLKZEROOUT
// run synchronously in flush_submissions(), as Linux blkback runs its
// discards (dispatch_discard_io() in xen-blkback/blkback.c).
//
// completion_fd() is an eventfd registered with io_uring_register_eventfd(),
// which the kernel signals for every completion it posts.
//
// A read or write that would go alone into io_uring_enter(2) is first tried
// on the owner's thread without waiting (IoEngine::served_without_waiting():
// preadv2/pwritev2 with RWF_NOWAIT), and completes there when the page cache
// can serve it; only the rest goes on the submission queue. io_uring would
// serve a cached read inline too (its first issue does not wait), but
// through a submission and a completion entry and an eventfd signal: one
// 4 KiB read at depth 1 on a page-cached ext4 image took 2.35 to 2.92 µs
// that way and 2.17 to 2.59 µs tried first, against 1.9 to 2.3 µs for
// plain pread(2) (tests/bench/storage, randread_4k/disk/io_uring/qd1, before
// and after). A batch is not tried: each system call costs more than
// io_uring's one for the batch (0.75 µs a read at depth 32 against 2 µs a
// preadv2).
//
// Buffers are not registered (IORING_OP_READ_FIXED): blkback's buffers are
// guest pages mapped per request, so registering them would cost as much as
// it saves.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/storage/io_engine.hpp"
#include "common/os/event_fd.hpp"

namespace pvsim::backend::storage {

class IoUringEngine final : public IoEngine {
  public:
    // A ring of `queue_depth` submission entries. Throws std::system_error
    // when io_uring cannot be set up (kernel without io_uring, a seccomp
    // filter, kernel.io_uring_disabled) or lacks an operation it needs.
    IoUringEngine(IoTarget target, unsigned queue_depth);
    ~IoUringEngine() override;

    std::string_view name() const noexcept override { return "io_uring"; }

    void flush_submissions() override;
    // Reset when asked for, then readable if a completion waits (see
    // io_uring_engine.cpp): ask each time before sleeping.
    int completion_fd() const override;
    bool has_completions() const noexcept override;
    std::size_t reap_into(std::span<IoCompletion> out) override;

  private:
    void prepare(std::uint32_t index) override;
    // Puts the request's next step (all of it, or what is left after a short
    // transfer) on the submission queue.
    void queue_sqe(std::uint32_t index);
    void submit_queued();

    io_uring ring_{};
    // Signalled by the kernel for each completion entry; reset by
    // completion_fd() (const: asking for the fd before sleeping is what
    // resets it).
    mutable os::EventFd completion_event_{os::EventFd::Options{.nonblocking = true}};
    // Submission entries the kernel has taken or will take at the next
    // submit, each owed one completion entry.
    unsigned sqes_outstanding_ = 0;
    // Block-device discards and write-zeroes, run at flush_submissions().
    std::vector<std::uint32_t> blocking_;
    // Reads and writes, queued at flush_submissions() unless one alone is
    // served there without waiting.
    std::vector<std::uint32_t> transfers_;
};

}  // namespace pvsim::backend::storage
