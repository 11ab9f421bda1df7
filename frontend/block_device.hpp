// The asynchronous block API a guest's code uses (DESIGN.md §5, §6): what
// blkfront and the virtio-blk driver both offer, so that the workload
// engine and the tests run unchanged over either transport. Like Linux's
// blk-mq seen from a driver's user: requests carry buffers in the guest's
// own memory, are submitted in batches (one notification per batch at most),
// and complete through a callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend {

// I/O memory: whole pages of the guest's memory (DomainMemory frames), in
// order, the data starting at the first page's first byte. A transport
// grants (or, for virtio, addresses) these pages; it never copies out of
// them unless a feature says so (persistent grants).
struct GuestBuffer {
    std::vector<hypervisor::Gfn> pages;
    std::size_t length = 0;  // bytes, a multiple of 512, at most pages.size() * 4096
};

// discard: the sectors' contents are no longer needed (they read back as
// zeros where the device supports it: Linux's REQ_OP_DISCARD).
enum class BlockOperation { read, write, flush, discard };

// status: 0, or a negative errno: -EIO (BLKIF_RSP_ERROR / VIRTIO_BLK_S_IOERR,
// or sectors past the end of the disk), -EOPNOTSUPP (BLKIF_RSP_EOPNOTSUPP /
// VIRTIO_BLK_S_UNSUPP), -ENODEV (the device failed or went away before the
// request completed), -EINVAL (a malformed request: no buffer, or a length
// that is not a non-zero multiple of 512 or overruns its pages), -ENOMEM (no
// room to issue it, e.g. a full grant table).
using BlockCompletion = std::function<void(int status)>;

struct BlockRequest {
    BlockOperation operation = BlockOperation::read;
    std::uint64_t sector = 0;             // in 512-byte units, as blkif and virtio-blk count
    const GuestBuffer* buffer = nullptr;  // null for flush and discard; must live until completion
    std::uint64_t discard_sectors = 0;    // discard only: how many sectors from `sector`
    BlockCompletion done;                 // runs on the device's completion thread
    // write only: Linux's REQ_FUA (a direct write with O_SYNC or O_DSYNC,
    // block/fops.c dio_bio_write_op): done only once the data is on stable
    // storage. As blk-flush.c's blk_flush_policy sequences it: passed down
    // where the transport has FUA (blkfront to a barrier-only backend: a
    // WRITE_BARRIER with the data), else the write and then a flush
    // (REQ_FSEQ_POSTFLUSH), and a plain write where no flush reaches the
    // device (no write cache).
    bool fua = false;
};

class BlockDevice {
  public:
    virtual ~BlockDevice() = default;

    // Size in 512-byte sectors, the logical sector size, and the read-only
    // flag, as the backend published them.
    virtual std::uint64_t capacity_sectors() const = 0;
    virtual std::uint32_t sector_size() const = 0;
    virtual bool read_only() const = 0;

    // Queues every request of the batch and then notifies the backend at
    // most once (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY / vring_need_event).
    // Requests larger than one transport request are split. Thread-safe.
    // Blocks while the ring is full. A request that cannot be issued at all
    // (device failed, bad range) completes with its error. A discard on a
    // device that does not support it completes with -EOPNOTSUPP.
    virtual void submit(std::span<BlockRequest> batch) = 0;

    // Requests submitted and not yet completed.
    virtual std::size_t in_flight() const = 0;

    // Why the device failed (empty while it works).
    virtual std::string error() const = 0;
};

}  // namespace pvsim::frontend
