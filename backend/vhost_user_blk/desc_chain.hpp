// Walking one descriptor chain from its head (virtio 1.2 §2.7.5 "The Virtqueue
// Descriptor Table", §2.7.5.3 "Indirect Descriptors"; Linux vhost.c
// vhost_get_vq_desc / get_indirect, QEMU virtqueue_split_pop), and refusing
// it before any byte of it is used when it is malformed:
//   - a `next` index out of range of its table;
//   - a loop (more descriptors visited than its table holds);
//   - more descriptors in all than the queue size (§2.7.5.3.1: "A driver
//     MUST NOT create a descriptor chain longer than the Queue Size"), or
//     more bytes than the device takes in one request;
//   - a buffer not wholly inside the memory table;
//   - an indirect descriptor when INDIRECT_DESC was not negotiated, with
//     VIRTQ_DESC_F_NEXT, inside an indirect table ("indirect in indirect"),
//     or whose table is empty, not a multiple of 16 bytes, or outside memory;
//   - a device-readable buffer after a device-writable one (§2.7.4.2: "The
//     driver MUST place any device-writable descriptor elements after any
//     device-readable descriptor elements").
// Every descriptor is read once (a copy), so a driver rewriting the table
// meanwhile cannot make the walk see two different values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/vhost_user_blk/memory_table.hpp"
#include "common/virtio/virtqueue_view.hpp"

namespace pvsim::backend::vhost_user_blk {

struct ChainLimits {
    bool indirect = false;  // VIRTIO_F_INDIRECT_DESC negotiated
    // Descriptors in all (direct and indirect); the queue size.
    std::uint32_t max_descriptors = 0;
    // Sum of the buffer lengths.
    std::uint64_t max_bytes = 0;
};

// One buffer of the chain, translated into this process.
struct ChainBuffer {
    std::byte* data = nullptr;
    std::uint32_t len = 0;
    bool writable = false;  // VIRTQ_DESC_F_WRITE: the device writes it
};

struct DescChain {
    std::uint16_t head = 0;
    // Device-readable buffers first, then device-writable ones; empty
    // (zero-length) descriptors are left out.
    std::vector<ChainBuffer> buffers;
    std::uint64_t readable_bytes = 0;
    std::uint64_t writable_bytes = 0;
    bool indirect = false;  // went through an indirect table

    void clear() noexcept {
        buffers.clear();
        readable_bytes = writable_bytes = 0;
        indirect = false;
    }
};

// Walks the chain at `head` (which the caller has checked is < the queue
// size) into `out`. Empty on success, else why the chain is malformed.
std::string walk_chain(const virtio::SplitVirtqView& queue, const MemoryTable& memory,
                       std::uint16_t head, const ChainLimits& limits, DescChain& out);

}  // namespace pvsim::backend::vhost_user_blk
