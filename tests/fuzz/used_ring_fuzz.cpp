// Used-ring entries as pvsim's virtio driver reads them from a hostile
// device (frontend/virtio_blk/virtqueue_driver.hpp: get_used, Linux
// virtqueue_get_buf_ctx_split): the driver adds chains of every shape
// (direct, indirect, long ones in a page of their own) to a queue in the
// guest's memory (a memory file, mapped as a domain's memory is), and the
// device writes whatever the input says into the used ring and its index.
// get_used must take only entries that name a chain in flight, free each
// chain's descriptors exactly once, and refuse anything else with
// VirtqueueError, after which the queue is not used again.
//
// Input: [config u8] then rounds, each either the driver adding chains or
// the device publishing used entries (then the driver takes them).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "frontend/virtio_blk/virtqueue_driver.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/guest_memory.hpp"

namespace used_ring_fuzz {

namespace virtio = pvsim::virtio;
using pvsim::frontend::virtio_blk::VirtqBuffer;
using pvsim::frontend::virtio_blk::VirtqueueDriver;
using pvsim::frontend::virtio_blk::VirtqueueError;
using pvsim::fuzz::FuzzInput;
using pvsim::fuzz::require;
using pvsim::hypervisor::DomainMemory;

// Enough frames for a 256-entry queue, its small indirect tables and a
// long table per head.
constexpr std::size_t kFrames = 512;

// libFuzzer's model: one process, input after input; the memory is mapped
// once and every driver gives its pages back when it goes.
DomainMemory& memory() {
    static DomainMemory domain(pvsim::os::SharedMemory::map_fd(
                                   pvsim::fuzz::memory_file(kFrames * pvsim::xen::kXenPageSize)),
                               1);
    return domain;
}

class Driver {
  public:
    Driver(FuzzInput& input, const VirtqueueDriver::Options& options)
        : input_(input), queue_(memory(), options) {}

    void run() {
        while (!input_.empty() && !broken_) {
            if ((input_.take<std::uint8_t>() & 1) == 0) {
                add_chains();
            } else {
                device_publishes();
                take_used();
            }
        }
    }

  private:
    void add_chains() {
        const unsigned count = input_.take<std::uint8_t>() % 8 + 1;
        for (unsigned i = 0; i < count; ++i) {
            const std::size_t length = input_.take<std::uint16_t>() % queue_.max_chain() + 1;
            chain_.assign(length, VirtqBuffer{});
            for (std::size_t b = 0; b < length; ++b) {
                chain_[b] =
                    VirtqBuffer{.addr = 0x1000 * b, .len = 512, .device_writable = b + 1 == length};
            }
            try {
                if (queue_.add(chain_, next_token_) == VirtqueueDriver::AddResult::no_room) {
                    return;
                }
            } catch (const std::bad_alloc&) {
                return;  // no page for a long table, and no room to go direct
            }
            in_flight_.insert(next_token_++);
        }
        (void)queue_.kick_prepare();
    }

    // The device writes `count` used elements from the driver's next one
    // on, and then a used index of its choosing or just past them.
    void device_publishes() {
        const auto how = input_.take<std::uint8_t>();
        const unsigned count = how % 16;
        std::byte* used = memory().base() + queue_.used_gpa();
        const std::uint16_t size = queue_.size();
        const std::uint16_t from = queue_.last_used_idx();
        for (unsigned i = 0; i < count; ++i) {
            const virtio::VirtqUsedElem elem = input_.take<virtio::VirtqUsedElem>();
            const std::size_t slot = static_cast<std::uint16_t>(from + i) % size;
            std::memcpy(used + virtio::kUsedRingOffset + slot * sizeof elem, &elem, sizeof elem);
        }
        const std::uint16_t idx = (how & 0x80) != 0 ? input_.take<std::uint16_t>()
                                                    : static_cast<std::uint16_t>(from + count);
        std::memcpy(used + offsetof(virtio::VirtqUsed, idx), &idx, sizeof idx);
    }

    void take_used() {
        const std::size_t free_before = queue_.free_descriptors();
        try {
            while (const std::optional<pvsim::frontend::virtio_blk::UsedBuffer> used =
                       queue_.get_used()) {
                // Each chain comes back once, with the token it went with.
                require(in_flight_.erase(used->token) == 1);
            }
        } catch (const VirtqueueError&) {
            broken_ = true;
            return;
        }
        require(queue_.in_flight() == in_flight_.size());
        require(queue_.free_descriptors() >= free_before &&
                queue_.free_descriptors() <= queue_.size());
        require(!in_flight_.empty() || queue_.free_descriptors() == queue_.size());
    }

    FuzzInput& input_;
    VirtqueueDriver queue_;
    std::vector<VirtqBuffer> chain_;
    std::set<std::uint32_t> in_flight_;
    std::uint32_t next_token_ = 0;
    bool broken_ = false;
};

}  // namespace used_ring_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    pvsim::fuzz::FuzzInput input(data, size);
    const auto config = input.take<std::uint8_t>();
    const used_ring_fuzz::VirtqueueDriver::Options options{
        .queue_size = 1u << (config % 9),  // 1 .. 256
        .event_idx = (config & 0x10) != 0,
        .indirect_desc = (config & 0x20) != 0,
    };
    used_ring_fuzz::Driver driver(input, options);
    driver.run();
    return 0;
}
