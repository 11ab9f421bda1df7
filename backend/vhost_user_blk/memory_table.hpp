// The front-end's memory as SET_MEM_TABLE describes it (vhost-user.rst,
// "Memory region description"; libvhost-user's vu_set_mem_table_exec): each
// region's fd mapped here, and the two translations a device needs into this
// process's addresses:
//   - guest-physical -> here, for descriptor addresses (virtio 1.2 §2.7.5);
//   - the front-end's user address -> here, for SET_VRING_ADDR, whose
//     addresses are the front-end's own virtual addresses.
// A translation succeeds only when the whole range lies inside one region:
// whatever a peer sends, the device never touches memory outside the table.
//
// The table is immutable once built. A new SET_MEM_TABLE builds a new one;
// queues that started with the old one keep it (shared_ptr) until they stop,
// so no mapping goes while a queue thread still uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "common/virtio/vhost_user.hpp"

namespace pvsim::backend::vhost_user_blk {

// A region that cannot be mapped; what() names the region and the reason.
class MemoryTableError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class MemoryTable {
  public:
    struct Region {
        std::uint64_t guest_phys_addr = 0;
        std::uint64_t size = 0;
        std::uint64_t userspace_addr = 0;
        std::byte* host = nullptr;  // guest_phys_addr maps here
    };

    // Maps every region from its fd (one per region, in order): the fd's
    // whole span up to mmap_offset + memory_size, shared and read/write.
    // Refuses an empty table, more than kMemoryBaselineNregions regions, a
    // count of fds that differs from the regions, an empty region, ranges
    // that wrap around 2^64, and an fd shorter than its region (which would
    // raise SIGBUS on first touch).
    static MemoryTable map(std::span<const vhost_user::MemoryRegion> regions,
                           std::vector<os::UniqueFd> fds);

    MemoryTable(MemoryTable&& other) noexcept;
    MemoryTable& operator=(MemoryTable&& other) noexcept;
    MemoryTable(const MemoryTable&) = delete;
    MemoryTable& operator=(const MemoryTable&) = delete;
    ~MemoryTable();

    // Here-address of [gpa, gpa + length) when it lies in one region; null
    // otherwise. length 0 is treated as 1 (the address must still be inside).
    std::byte* translate_guest(std::uint64_t gpa, std::uint64_t length) const noexcept;
    // The same for a front-end user address (SET_VRING_ADDR).
    std::byte* translate_user(std::uint64_t uaddr, std::uint64_t length) const noexcept;

    std::span<const Region> regions() const noexcept { return regions_; }

  private:
    struct Mapping {
        void* base = nullptr;
        std::size_t length = 0;
    };
    MemoryTable() = default;
    void unmap_all() noexcept;

    std::vector<Region> regions_;
    std::vector<Mapping> mappings_;
};

}  // namespace pvsim::backend::vhost_user_blk
