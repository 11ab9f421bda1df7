// SET_MEM_TABLE's regions mapped, and both translations (guest-physical for
// descriptors, the front-end's user addresses for SET_VRING_ADDR) bounded
// by the regions.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "backend/vhost_user_blk/memory_table.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/support/guest_queue.hpp"

namespace {

using pvsim::backend::vhost_user_blk::MemoryTable;
using pvsim::backend::vhost_user_blk::MemoryTableError;
using pvsim::os::duplicate_fd;
using pvsim::os::UniqueFd;
using pvsim::test::GuestMemory;
using pvsim::vhost_user::MemoryRegion;

constexpr std::uint64_t kSize = 1 << 20;

std::vector<UniqueFd> fds_of(const GuestMemory& memory, std::size_t count) {
    std::vector<UniqueFd> fds;
    for (std::size_t i = 0; i < count; ++i) {
        fds.push_back(duplicate_fd(memory.fd()));
    }
    return fds;
}

TEST(MemoryTable, TranslatesGuestAndUserAddressesInsideTheRegion) {
    GuestMemory memory(kSize);
    const MemoryRegion region{0, kSize, memory.user(0), 0};
    const MemoryTable table = MemoryTable::map({&region, 1}, fds_of(memory, 1));
    // The same bytes seen through the two mappings.
    *memory.at(0x1234) = std::byte{0x5a};
    ASSERT_NE(table.translate_guest(0x1234, 1), nullptr);
    EXPECT_EQ(*table.translate_guest(0x1234, 1), std::byte{0x5a});
    EXPECT_EQ(table.translate_user(memory.user(0x1234), 1), table.translate_guest(0x1234, 1));
    EXPECT_NE(table.translate_guest(kSize - 16, 16), nullptr);  // the last bytes
    EXPECT_EQ(table.translate_guest(kSize - 16, 17), nullptr);  // one past
    EXPECT_EQ(table.translate_guest(kSize, 1), nullptr);
    EXPECT_EQ(table.translate_guest(~std::uint64_t{0}, 2), nullptr);  // wraps
    EXPECT_EQ(table.translate_user(memory.user(0) - 1, 1), nullptr);
    EXPECT_EQ(table.translate_user(memory.user(kSize), 1), nullptr);
}

TEST(MemoryTable, HonoursMmapOffsetAndGuestBase) {
    GuestMemory memory(kSize);
    // The second half of the object is guest-physical 0x100000.., its user
    // address 0x7000'0000'0000.
    const MemoryRegion region{0x100000, kSize / 2, 0x700000000000, kSize / 2};
    const MemoryTable table = MemoryTable::map({&region, 1}, fds_of(memory, 1));
    *memory.at(kSize / 2 + 8) = std::byte{0x77};
    ASSERT_NE(table.translate_guest(0x100008, 1), nullptr);
    EXPECT_EQ(*table.translate_guest(0x100008, 1), std::byte{0x77});
    EXPECT_EQ(*table.translate_user(0x700000000008, 1), std::byte{0x77});
    EXPECT_EQ(table.translate_guest(0x8, 1), nullptr);
    EXPECT_EQ(table.translate_guest(0x100000 + kSize / 2, 1), nullptr);
}

TEST(MemoryTable, RefusesBadTables) {
    GuestMemory memory(kSize);
    const MemoryRegion one{0, kSize, memory.user(0), 0};
    // No region; more fds than regions; fewer.
    EXPECT_THROW((void)MemoryTable::map({}, {}), MemoryTableError);
    EXPECT_THROW((void)MemoryTable::map({&one, 1}, fds_of(memory, 2)), MemoryTableError);
    EXPECT_THROW((void)MemoryTable::map({&one, 1}, {}), MemoryTableError);
    // More regions than VHOST_MEMORY_BASELINE_NREGIONS.
    std::vector<MemoryRegion> nine(9, MemoryRegion{0, 4096, 0, 0});
    EXPECT_THROW((void)MemoryTable::map(nine, fds_of(memory, 9)), MemoryTableError);
    // Longer than the fd (would SIGBUS), empty, wrapping.
    const MemoryRegion too_long{0, kSize, memory.user(0), 4096};
    EXPECT_THROW((void)MemoryTable::map({&too_long, 1}, fds_of(memory, 1)), MemoryTableError);
    const MemoryRegion empty{0, 0, memory.user(0), 0};
    EXPECT_THROW((void)MemoryTable::map({&empty, 1}, fds_of(memory, 1)), MemoryTableError);
    const MemoryRegion wraps{~std::uint64_t{0} - 10, 4096, 0, 0};
    EXPECT_THROW((void)MemoryTable::map({&wraps, 1}, fds_of(memory, 1)), MemoryTableError);
}

}  // namespace
