// Page-aligned memory that a forked child shares with its parent, as guest
// memory is shared between a virtio driver and its device.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <span>
#include <stdexcept>

namespace pvsim::test {

class SharedArea {
  public:
    explicit SharedArea(std::size_t size)
        : size_(size),
          base_(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
        if (base_ == MAP_FAILED) {
            throw std::runtime_error("mmap of a shared test area failed");
        }
    }
    ~SharedArea() { ::munmap(base_, size_); }
    SharedArea(const SharedArea&) = delete;
    SharedArea& operator=(const SharedArea&) = delete;

    std::span<std::byte> bytes() const { return {static_cast<std::byte*>(base_), size_}; }
    std::byte* data() const { return static_cast<std::byte*>(base_); }

  private:
    std::size_t size_;
    void* base_;
};

}  // namespace pvsim::test
