// Page-aligned, zeroed memory standing in for a granted ring area.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "common/xen/ring.hpp"

namespace pvsim::xen::test {

class PageBuffer {
  public:
    explicit PageBuffer(std::size_t bytes)
        : bytes_(bytes), data_(static_cast<std::byte*>(std::aligned_alloc(kXenPageSize, bytes))) {
        if (!data_) {
            throw std::bad_alloc();
        }
        std::memset(data_.get(), 0, bytes_);
    }

    void* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return bytes_; }
    SharedRing& shared() const noexcept { return *static_cast<SharedRing*>(data()); }

  private:
    struct Free {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };
    std::size_t bytes_;
    std::unique_ptr<std::byte, Free> data_;
};

// Puts a shared header where a ring that had carried `index` messages each
// way, with both ends asleep waiting for the next one, would have it.
inline void set_shared_indices(SharedRing& s, RingIdx index) noexcept {
    s.init();
    s.req_prod = index;
    s.rsp_prod = index;
    s.req_event = index + 1;
    s.rsp_event = index + 1;
}

}  // namespace pvsim::xen::test
