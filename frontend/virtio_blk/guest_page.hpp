// One frame of the guest's own memory, taken from its page allocator for as
// long as this object lives (the virtio driver's rings, request headers and
// indirect tables: what Linux would kmalloc or dma_alloc_coherent).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "common/xen/ring.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::virtio_blk {

inline constexpr std::size_t kPageSize = xen::kXenPageSize;

// Guest-physical address of a byte of frame `gfn` (virtio descriptors and
// rings carry these).
constexpr std::uint64_t guest_physical(hypervisor::Gfn gfn, std::size_t offset = 0) {
    return gfn * kPageSize + offset;
}

class GuestPage {
  public:
    GuestPage() = default;
    // A zero-filled frame; std::bad_alloc when the guest has none left.
    explicit GuestPage(hypervisor::DomainMemory& memory)
        : memory_(&memory), gfn_(memory.allocate_page()) {}
    ~GuestPage() { reset(); }
    GuestPage(GuestPage&& other) noexcept
        : memory_(std::exchange(other.memory_, nullptr)), gfn_(other.gfn_) {}
    GuestPage& operator=(GuestPage&& other) noexcept {
        if (this != &other) {
            reset();
            memory_ = std::exchange(other.memory_, nullptr);
            gfn_ = other.gfn_;
        }
        return *this;
    }
    GuestPage(const GuestPage&) = delete;
    GuestPage& operator=(const GuestPage&) = delete;

    explicit operator bool() const noexcept { return memory_ != nullptr; }
    hypervisor::Gfn gfn() const noexcept { return gfn_; }
    std::uint64_t gpa(std::size_t offset = 0) const noexcept {
        return guest_physical(gfn_, offset);
    }
    std::span<std::byte, kPageSize> bytes() const { return memory_->page(gfn_); }

  private:
    void reset() noexcept {
        if (memory_ != nullptr) {
            try {
                memory_->free_page(gfn_);
            } catch (...) {
                // Only a frame freed twice throws, which ownership rules out.
            }
            memory_ = nullptr;
        }
    }

    hypervisor::DomainMemory* memory_ = nullptr;
    hypervisor::Gfn gfn_ = 0;
};

}  // namespace pvsim::frontend::virtio_blk
