#include "hypervisor/client/domain_memory.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace pvsim::hypervisor {

DomainMemory::DomainMemory(os::SharedMemory memory, Gfn first_free_gfn)
    : memory_(std::move(memory)), first_free_gfn_(std::min(first_free_gfn, frames())) {
    const Gfn count = frames();
    allocated_.assign(count, false);
    // Highest first, so that allocation hands out the lowest frames first.
    free_list_.reserve(count - first_free_gfn_);
    for (Gfn gfn = count; gfn > first_free_gfn_; --gfn) {
        free_list_.push_back(gfn - 1);
    }
}

std::span<std::byte, xen::kXenPageSize> DomainMemory::page(Gfn gfn) const {
    if (gfn >= frames()) {
        throw std::out_of_range("frame " + std::to_string(gfn) + " is past the end of memory (" +
                                std::to_string(frames()) + " frames)");
    }
    return std::span<std::byte, xen::kXenPageSize>(memory_.data() + gfn * xen::kXenPageSize,
                                                   xen::kXenPageSize);
}

Gfn DomainMemory::allocate_page() {
    Gfn gfn;
    {
        std::lock_guard lock(mutex_);
        if (free_list_.empty()) {
            throw std::bad_alloc();
        }
        gfn = free_list_.back();
        free_list_.pop_back();
        allocated_[gfn] = true;
    }
    // Whatever the previous user or another domain left there is not ours
    // to see.
    std::memset(memory_.data() + gfn * xen::kXenPageSize, 0, xen::kXenPageSize);
    return gfn;
}

void DomainMemory::free_page(Gfn gfn) {
    std::lock_guard lock(mutex_);
    if (gfn < first_free_gfn_ || gfn >= frames() || !allocated_[gfn]) {
        throw std::invalid_argument("frame " + std::to_string(gfn) + " is not allocated");
    }
    allocated_[gfn] = false;
    free_list_.push_back(gfn);
}

std::size_t DomainMemory::free_pages() const {
    std::lock_guard lock(mutex_);
    return free_list_.size();
}

}  // namespace pvsim::hypervisor
