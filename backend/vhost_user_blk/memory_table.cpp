#include "backend/vhost_user_blk/memory_table.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace pvsim::backend::vhost_user_blk {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Whether [start, start + length) lies inside [base, base + size).
bool inside(std::uint64_t start, std::uint64_t length, std::uint64_t base, std::uint64_t size) {
    if (length == 0) {
        length = 1;
    }
    if (start < base) {
        return false;
    }
    const std::uint64_t offset = start - base;
    return offset < size && length <= size - offset;
}

std::string describe(std::size_t index, const vhost_user::MemoryRegion& r) {
    return fmt::format("memory region {} (guest 0x{:x}, {} bytes, user 0x{:x}, offset {})", index,
                       r.guest_phys_addr, r.memory_size, r.userspace_addr, r.mmap_offset);
}

}  // namespace

MemoryTable MemoryTable::map(std::span<const vhost_user::MemoryRegion> regions,
                             std::vector<os::UniqueFd> fds) {
    if (regions.empty()) {
        throw MemoryTableError("the memory table has no region");
    }
    if (regions.size() > vhost_user::kMemoryBaselineNregions) {
        throw MemoryTableError(fmt::format("the memory table has {} regions, more than {}",
                                           regions.size(), vhost_user::kMemoryBaselineNregions));
    }
    if (fds.size() != regions.size()) {
        throw MemoryTableError(fmt::format("the memory table has {} regions but came with {} fds",
                                           regions.size(), fds.size()));
    }
    MemoryTable table;
    for (std::size_t i = 0; i < regions.size(); ++i) {
        const vhost_user::MemoryRegion& r = regions[i];
        if (r.memory_size == 0) {
            throw MemoryTableError(describe(i, r) + " is empty");
        }
        if (r.guest_phys_addr > kMax - r.memory_size || r.userspace_addr > kMax - r.memory_size ||
            r.mmap_offset > kMax - r.memory_size) {
            throw MemoryTableError(describe(i, r) + " wraps around the address space");
        }
        const std::uint64_t length = r.mmap_offset + r.memory_size;
        if (length > std::numeric_limits<std::size_t>::max() ||
            length > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
            throw MemoryTableError(describe(i, r) + " is too large to map");
        }
        struct stat st {};
        if (::fstat(fds[i].get(), &st) != 0) {
            throw MemoryTableError(describe(i, r) + ": fstat: " + std::strerror(errno));
        }
        if (static_cast<std::uint64_t>(st.st_size) < length) {
            throw MemoryTableError(
                describe(i, r) +
                fmt::format(" ends past its fd ({} bytes)", static_cast<long long>(st.st_size)));
        }
        void* base = ::mmap(nullptr, static_cast<std::size_t>(length), PROT_READ | PROT_WRITE,
                            MAP_SHARED, fds[i].get(), 0);
        if (base == MAP_FAILED) {
            throw MemoryTableError(describe(i, r) + ": mmap: " + std::strerror(errno));
        }
        table.mappings_.push_back({base, static_cast<std::size_t>(length)});
        table.regions_.push_back(Region{
            .guest_phys_addr = r.guest_phys_addr,
            .size = r.memory_size,
            .userspace_addr = r.userspace_addr,
            .host = static_cast<std::byte*>(base) + r.mmap_offset,
        });
    }
    // The fds close here: the mappings keep the memory (as libvhost-user
    // closes them once mapped).
    return table;
}

MemoryTable::MemoryTable(MemoryTable&& other) noexcept
    : regions_(std::move(other.regions_)), mappings_(std::exchange(other.mappings_, {})) {}

MemoryTable& MemoryTable::operator=(MemoryTable&& other) noexcept {
    if (this != &other) {
        unmap_all();
        regions_ = std::move(other.regions_);
        mappings_ = std::exchange(other.mappings_, {});
    }
    return *this;
}

MemoryTable::~MemoryTable() {
    unmap_all();
}

void MemoryTable::unmap_all() noexcept {
    for (const Mapping& m : mappings_) {
        ::munmap(m.base, m.length);
    }
    mappings_.clear();
    regions_.clear();
}

std::byte* MemoryTable::translate_guest(std::uint64_t gpa, std::uint64_t length) const noexcept {
    for (const Region& r : regions_) {
        if (inside(gpa, length, r.guest_phys_addr, r.size)) {
            return r.host + (gpa - r.guest_phys_addr);
        }
    }
    return nullptr;
}

std::byte* MemoryTable::translate_user(std::uint64_t uaddr, std::uint64_t length) const noexcept {
    for (const Region& r : regions_) {
        if (inside(uaddr, length, r.userspace_addr, r.size)) {
            return r.host + (uaddr - r.userspace_addr);
        }
    }
    return nullptr;
}

}  // namespace pvsim::backend::vhost_user_blk
