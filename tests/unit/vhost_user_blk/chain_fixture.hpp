// A guest queue and the device's view of the same memory, side by side in
// one process, for the data-plane pieces that need no socket.
#pragma once

#include <memory>

#include "backend/vhost_user_blk/memory_table.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/support/guest_queue.hpp"

namespace pvsim::test {

struct ChainFixture {
    static constexpr std::uint16_t kQueueSize = 16;

    GuestMemory memory{1 << 20};
    GuestQueue queue{memory, kQueueSize};
    backend::vhost_user_blk::MemoryTable table = map_table();

    backend::vhost_user_blk::MemoryTable map_table() {
        const vhost_user::MemoryRegion region{0, memory.size(), memory.user(0), 0};
        std::vector<os::UniqueFd> fds;
        fds.push_back(os::duplicate_fd(memory.fd()));
        return backend::vhost_user_blk::MemoryTable::map({&region, 1}, std::move(fds));
    }
    // The device's view of the queue, through its own mapping.
    virtio::SplitVirtqView device_view() {
        const auto n = queue.size();
        return *virtio::SplitVirtqView::from_parts(
            n, {table.translate_guest(queue.desc_gpa(), 1), virtio::desc_table_size(n)},
            {table.translate_guest(queue.avail_gpa(), 1), virtio::avail_ring_size(n)},
            {table.translate_guest(queue.used_gpa(), 1), virtio::used_ring_size(n)});
    }
};

}  // namespace pvsim::test
