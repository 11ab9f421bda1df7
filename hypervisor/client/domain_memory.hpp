// A domain's own pseudo-physical memory (DESIGN.md §3): one shared-memory
// object mapped whole, where guest frame number = offset / 4096, plus the
// page allocator a guest kernel would have, so rings, xenstore pages and I/O
// buffers each get frames of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "common/os/shared_memory.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::hypervisor {

using Gfn = std::uint64_t;

class DomainMemory {
  public:
    // `first_free_gfn`: frames below it belong to the hypervisor (the
    // xenstore ring page) and are never handed out.
    DomainMemory(os::SharedMemory memory, Gfn first_free_gfn);

    std::size_t size() const noexcept { return memory_.size(); }
    Gfn frames() const noexcept { return memory_.size() / xen::kXenPageSize; }

    // The page of frame `gfn`; throws std::out_of_range past the end.
    std::span<std::byte, xen::kXenPageSize> page(Gfn gfn) const;

    // A free frame, zero-filled; throws std::bad_alloc when none is left.
    // Thread-safe.
    Gfn allocate_page();
    // Returns a frame from allocate_page(). Freeing a frame twice or one never
    // allocated throws std::invalid_argument.
    void free_page(Gfn gfn);
    std::size_t free_pages() const;

    // The memory object's fd (e.g. for vhost-user SET_MEM_TABLE).
    int fd() const noexcept { return memory_.fd(); }
    std::byte* base() const noexcept { return memory_.data(); }

  private:
    os::SharedMemory memory_;
    Gfn first_free_gfn_;
    mutable std::mutex mutex_;
    std::vector<Gfn> free_list_;   // LIFO: recently freed pages are warm
    std::vector<bool> allocated_;  // by gfn
};

}  // namespace pvsim::hypervisor
