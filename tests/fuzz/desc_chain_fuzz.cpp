// Split-virtqueue descriptor chains as the vhost-user-blk device walks
// them (virtio 1.2 §2.7.5; backend/vhost_user_blk/desc_chain.hpp): the
// guest's memory is a memory file mapped through the device's own
// MemoryTable (two adjacent regions, so a buffer straddling them must be
// refused), the input's bytes are its contents from guest-physical 0 (the
// descriptor table, then the avail and used rings of the split layout, then
// data and indirect tables), and the queue is taken as QueueWorker takes it:
// the avail index checked and each head taken by Vring, each chain walked
// by walk_chain and answered on the used ring.
//
// What must hold besides no crash: every buffer of a chain walked as valid
// lies wholly inside one region of the table, the device-readable buffers
// come first, and the chain respects the queue size and the byte limit.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "backend/vhost_user_blk/desc_chain.hpp"
#include "backend/vhost_user_blk/memory_table.hpp"
#include "backend/vhost_user_blk/vring.hpp"
#include "common/virtio/virtqueue.hpp"
#include "common/virtio/virtqueue_view.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/guest_memory.hpp"

namespace desc_chain_fuzz {

namespace virtio = pvsim::virtio;
using pvsim::backend::vhost_user_blk::ChainLimits;
using pvsim::backend::vhost_user_blk::DescChain;
using pvsim::backend::vhost_user_blk::MemoryTable;
using pvsim::backend::vhost_user_blk::Vring;
using pvsim::backend::vhost_user_blk::walk_chain;
using pvsim::fuzz::FuzzInput;
using pvsim::fuzz::require;

// Region 0: guest-physical [0, 64 KiB); region 1 right after it, 16 KiB.
constexpr std::size_t kRegion0 = 64 * 1024;
constexpr std::size_t kRegion1 = 16 * 1024;

// The guest's memory, mapped once: libFuzzer's model is one process
// running input after input, and mapping per input would cost more than
// the walk.
const MemoryTable& memory() {
    static const MemoryTable table = [] {
        const std::array<pvsim::vhost_user::MemoryRegion, 2> regions{{
            {.guest_phys_addr = 0,
             .memory_size = kRegion0,
             .userspace_addr = 0x7f0000000000,
             .mmap_offset = 0},
            {.guest_phys_addr = kRegion0,
             .memory_size = kRegion1,
             .userspace_addr = 0x7f0000100000,
             .mmap_offset = kRegion0},
        }};
        std::vector<pvsim::os::UniqueFd> fds;
        fds.push_back(pvsim::fuzz::memory_file(kRegion0 + kRegion1));
        fds.push_back(pvsim::os::UniqueFd(::dup(fds[0].get())));
        return MemoryTable::map(regions, std::move(fds));
    }();
    return table;
}

bool inside_one_region(const MemoryTable& table, const std::byte* data, std::uint32_t len) {
    for (const MemoryTable::Region& region : table.regions()) {
        const std::byte* begin = region.host;
        const std::byte* end = region.host + region.size;
        if (data >= begin && data <= end && len <= static_cast<std::size_t>(end - data)) {
            return true;
        }
    }
    return false;
}

void check_chain(const MemoryTable& table, const DescChain& chain, const ChainLimits& limits) {
    std::uint64_t readable = 0;
    std::uint64_t writable = 0;
    bool seen_writable = false;
    require(chain.buffers.size() <= limits.max_descriptors);
    for (const auto& buffer : chain.buffers) {
        require(buffer.len != 0 && inside_one_region(table, buffer.data, buffer.len));
        require(buffer.writable || !seen_writable);
        seen_writable = seen_writable || buffer.writable;
        (buffer.writable ? writable : readable) += buffer.len;
    }
    require(readable == chain.readable_bytes && writable == chain.writable_bytes);
    require(readable + writable <= limits.max_bytes);
}

}  // namespace desc_chain_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace desc_chain_fuzz;
    FuzzInput input(data, size);
    const MemoryTable& table = memory();
    const auto config = input.take<std::uint8_t>();
    const std::uint32_t queue_size = 1u << (config % 9);  // 1 .. 256
    const ChainLimits limits{.indirect = (config & 0x10) != 0,
                             .max_descriptors = queue_size,
                             .max_bytes = input.take<std::uint32_t>()};
    const auto last_avail = input.take<std::uint16_t>();
    const bool event_idx = (config & 0x20) != 0;

    // The table maps each region from its fd up to the region's end, so
    // region 1's mapping holds the whole file: both regions' bytes, in
    // guest-physical order, where region 0's mapping holds its own only.
    std::byte* file = table.regions()[1].host - kRegion0;
    std::memset(file, 0, kRegion0 + kRegion1);
    const auto contents = input.take_rest();
    FuzzInput::copy(file, contents.first(std::min(contents.size(), kRegion0 + kRegion1)));

    const auto layout = *virtio::split_layout(queue_size);
    auto view = virtio::SplitVirtqView::over({table.regions()[0].host, layout.total_size}, layout);
    require(view.has_value());
    Vring ring(*view, last_avail, event_idx);
    DescChain chain;
    std::string why;
    const std::optional<std::uint16_t> available = ring.available(why);
    if (!available) {
        return 0;  // a malformed queue: the worker stops it
    }
    for (std::uint16_t i = 0; i < *available; ++i) {
        const std::optional<std::uint16_t> head = ring.take_head(why);
        if (!head) {
            break;
        }
        chain.clear();
        if (walk_chain(ring.view(), table, *head, limits, chain).empty()) {
            check_chain(table, chain, limits);
            ring.add_used(*head, static_cast<std::uint32_t>(
                                     std::min<std::uint64_t>(chain.writable_bytes, 1)));
        } else {
            ring.add_used(*head, 0);
        }
    }
    (void)ring.flush_used();
    return 0;
}
