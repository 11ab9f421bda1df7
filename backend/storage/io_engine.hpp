// The one interface between a data-plane loop (blkback's loop per ring, the
// vhost-user-blk device's loop per queue) and a backing store: asynchronous
// reads, writes, flushes and discards, each carrying the caller's tag, with
// completions handed back on the caller's own thread (DESIGN.md §5: "a queue
// depth of 32 gives 32 concurrent I/Os"). IoUringEngine (liburing) and
// ThreadPoolEngine (the fallback where io_uring is unavailable) implement it,
// and SyncEngine for tmpfs images; make_engine() picks one.
//
// An engine belongs to the thread of the loop that owns it: every call comes
// from that thread. The life of one I/O:
//   1. submit_*() copies the request (its iovec array too, so that may be a
//      temporary; the data buffers must stay valid until its completion) and
//      takes one of queue_depth() slots. When every slot is taken it returns
//      false and takes nothing: the caller stops consuming its ring until a
//      completion frees a slot, as Linux blkback stops when it runs out of
//      pending_req (xen-blkback/blkback.c). The engine never queues beyond
//      its depth, so memory and latency stay bounded.
//   2. flush_submissions() starts everything submitted since the last call,
//      so that a burst of requests taken from a ring costs one io_uring_enter
//      (one wake-up of the pool). Nothing starts before it.
//   3. completion_fd() (an eventfd) becomes readable once a completion is
//      ready, so the loop can sleep on it together with its event channel.
//      has_completions() answers the same without a system call, for a loop
//      that polls before it sleeps (DESIGN.md §10). Ask for the fd each time
//      before sleeping: SyncEngine, whose completions are all made inside
//      flush_submissions(), makes it readable only when asked for while
//      completions wait, and IoUringEngine and ThreadPoolEngine reset it
//      only then, so a loop that reaps first pays no eventfd system call
//      per round. A completion may be made inside flush_submissions() by
//      any engine (a lone page-cache read, served_without_waiting()): an
//      owner that flushes on one thread and sleeps on another must wake the
//      sleeper itself (tools/cli/local_path.cpp does).
//   4. reap() hands over the ready completions, without blocking, and frees
//      their slots (a callback may submit at once into a freed slot).
//
// Results are those of the system calls: a read or write gives the bytes
// moved, which is fewer than asked only at the end of a file (a read at or
// past the end gives 0), as pread(2) does; flush, discard and write-zeroes
// give 0; a failure gives -errno. The engine checks no range: the caller
// checks requests against the store's size first, as blkback checks sectors
// against the vbd's size.
//
// Destroying an engine waits for the I/O the kernel has already started to
// finish (and drops its completions), so no buffer is touched afterwards.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>

#include "backend/storage/io_request.hpp"

namespace pvsim::backend::storage {

// What an engine does its I/O on. The fd stays owned by its BackingStore,
// which must outlive every engine made for it.
struct IoTarget {
    int fd = -1;
    // Discard and write-zeroes are ioctls (BLKDISCARD, BLKZEROOUT) on a block
    // device and fallocate(2) on a file.
    bool block_device = false;
};

struct IoCompletion {
    std::uint64_t tag = 0;
    // Bytes moved (read, write), 0 (flush, discard, write-zeroes) or -errno.
    std::int64_t result = 0;
};

class IoEngine {
  public:
    virtual ~IoEngine() = default;
    IoEngine(const IoEngine&) = delete;
    IoEngine& operator=(const IoEngine&) = delete;

    // "io_uring" or "threads", for logs and reports.
    virtual std::string_view name() const noexcept = 0;

    IoTarget target() const noexcept { return target_; }
    unsigned queue_depth() const noexcept { return requests_.depth(); }
    // Submitted and not yet reaped.
    unsigned in_flight() const noexcept { return requests_.in_flight(); }
    bool full() const noexcept { return requests_.full(); }

    // Reads into / writes from `iov` at byte `offset` of the store.
    [[nodiscard]] bool submit_read(std::uint64_t tag, std::uint64_t offset,
                                   std::span<const iovec> iov);
    [[nodiscard]] bool submit_write(std::uint64_t tag, std::uint64_t offset,
                                    std::span<const iovec> iov);
    // fdatasync(2): what blkif's BLKIF_OP_FLUSH_DISKCACHE and virtio-blk's
    // VIRTIO_BLK_T_FLUSH ask for. Like them, it covers the writes completed
    // before it, not those still in flight.
    [[nodiscard]] bool submit_flush(std::uint64_t tag);
    // Deallocates the range, which then reads as zeros on a file (a hole
    // punched with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, as Linux's
    // loop driver discards); BLKDISCARD on a block device.
    [[nodiscard]] bool submit_discard(std::uint64_t tag, std::uint64_t offset,
                                      std::uint64_t length);
    // Makes the range read as zeros (virtio-blk VIRTIO_BLK_T_WRITE_ZEROES):
    // FALLOC_FL_ZERO_RANGE on a file, or a punched hole when `may_unmap`;
    // BLKZEROOUT on a block device. A filesystem without zero-range
    // (tmpfs) answers -EOPNOTSUPP unless `may_unmap`.
    [[nodiscard]] bool submit_write_zeroes(std::uint64_t tag, std::uint64_t offset,
                                           std::uint64_t length, bool may_unmap);

    // Starts every I/O submitted since the last call.
    virtual void flush_submissions() = 0;

    // Readable while completions are ready; owned by the engine. Asking
    // may reset or signal the engine's eventfd (see 3. above), so it throws
    // std::system_error if that eventfd cannot be written or read.
    virtual int completion_fd() const = 0;
    // Whether reap() would hand something over; no system call.
    virtual bool has_completions() const noexcept = 0;

    // Moves up to out.size() ready completions into `out`; returns how many.
    // Never blocks.
    virtual std::size_t reap_into(std::span<IoCompletion> out) = 0;

    // Calls on_completion(const IoCompletion&) for every ready completion;
    // returns how many. Never blocks.
    template <typename OnCompletion>
    std::size_t reap(OnCompletion&& on_completion) {
        std::array<IoCompletion, 32> batch;
        std::size_t total = 0;
        for (;;) {
            const std::size_t count = reap_into(batch);
            for (std::size_t i = 0; i < count; ++i) {
                on_completion(static_cast<const IoCompletion&>(batch[i]));
            }
            total += count;
            if (count < batch.size()) {
                return total;
            }
        }
    }

  protected:
    IoEngine(IoTarget target, unsigned queue_depth);

    // A request has just been put in slot `index`: prepare it so that the
    // next flush_submissions() starts it.
    virtual void prepare(std::uint32_t index) = 0;

    RequestTable& requests() noexcept { return requests_; }
    // Frees the slot and gives its completion.
    IoCompletion complete(std::uint32_t index, std::int64_t result) noexcept {
        return IoCompletion{requests_.release(index), result};
    }

    // Runs the request in slot `index` now, with blocking calls on this
    // thread (every request of the sync engine; io_uring's block-device
    // discards), its result kept until take_ready() hands it over.
    void run_now(std::uint32_t index);
    // Tries the read or write in slot `index` on this thread without
    // waiting (transfer_nowait(), blocking_io.hpp), if this store may serve
    // it so: true when it completed here, its result kept as run_now()
    // keeps one; false when it must be waited for, from where it stopped.
    // A store that answers EOPNOTSUPP for an operation is not asked again
    // for it, and an O_DIRECT one never is: a direct read without waiting
    // still waits for its device. The engines try a transfer only when it
    // would be handed over alone, since handing over a batch costs less
    // than a system call each (DESIGN.md §5).
    bool served_without_waiting(std::uint32_t index);
    bool has_ready() const noexcept { return !ready_.empty(); }
    // Moves kept results into out[count...] while there is room; returns the
    // new count.
    std::size_t take_ready(std::span<IoCompletion> out, std::size_t count) noexcept;

  private:
    bool submitted(std::optional<std::uint32_t> index);

    IoTarget target_;
    RequestTable requests_;
    // Whether reads / writes are still worth trying without waiting.
    bool read_nowait_ = false;
    bool write_nowait_ = false;
    std::deque<std::pair<std::uint32_t, std::int64_t>> ready_;  // {slot, result}
};

}  // namespace pvsim::backend::storage
