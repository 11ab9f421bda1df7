// The I/O buffers of a run: GuestBuffers of whole pages of the guest's own
// memory (block_device.hpp), allocated up front, as a guest kernel would
// pin its request pages, and all returned when the run ends, whatever
// happened to it.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "frontend/block_device.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::workload {

class IoPages {
  public:
    // `count` buffers of `bytes` each. Throws std::runtime_error, saying how
    // much was needed and how much is free, when the guest is short of
    // memory (nothing stays allocated then).
    IoPages(hypervisor::DomainMemory& memory, std::size_t count, std::size_t bytes);
    ~IoPages();
    IoPages(const IoPages&) = delete;
    IoPages& operator=(const IoPages&) = delete;

    std::size_t size() const noexcept { return buffers_.size(); }
    GuestBuffer& operator[](std::size_t i) noexcept { return buffers_[i]; }

  private:
    void release() noexcept;

    hypervisor::DomainMemory& memory_;
    std::vector<GuestBuffer> buffers_;
};

// Copies between a buffer's pages and contiguous bytes (buffer.length of
// them).
void copy_to_buffer(const hypervisor::DomainMemory& memory, const GuestBuffer& buffer,
                    std::span<const std::byte> bytes);
void copy_from_buffer(const hypervisor::DomainMemory& memory, const GuestBuffer& buffer,
                      std::span<std::byte> bytes);

}  // namespace pvsim::frontend::workload
