// A domain's page allocator over its memory object (DESIGN.md §3).
#include "hypervisor/client/domain_memory.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <set>

#include <gtest/gtest.h>

#include "scripted_peer.hpp"

namespace pvsim::hypervisor {
namespace {

constexpr std::size_t kFrames = 8;

class DomainMemoryTest : public ::testing::Test {
  protected:
    test::TestShm shm_;
    os::SharedMemory object_ = shm_.create("memory", kFrames* xen::kXenPageSize);
    // A second mapping of the same object, to see what the allocator did.
    std::byte* raw_ = object_.data();
    DomainMemory memory_{os::SharedMemory::map_fd(os::duplicate_fd(object_.fd())), 2};
};

TEST_F(DomainMemoryTest, FramesAreOffsetsOfFourKibibytes) {
    EXPECT_EQ(memory_.size(), kFrames * xen::kXenPageSize);
    EXPECT_EQ(memory_.frames(), kFrames);
    std::memcpy(raw_ + 5 * xen::kXenPageSize + 7, "frame5", 6);
    EXPECT_EQ(std::memcmp(memory_.page(5).data() + 7, "frame5", 6), 0);
    EXPECT_EQ(memory_.page(5).data(), memory_.base() + 5 * xen::kXenPageSize);
    EXPECT_THROW((void)memory_.page(kFrames), std::out_of_range);
    EXPECT_GE(memory_.fd(), 0);
}

TEST_F(DomainMemoryTest, AllocationSkipsTheHypervisorsFramesAndRunsOut) {
    std::set<Gfn> gfns;
    for (std::size_t i = 0; i < kFrames - 2; ++i) {
        const Gfn gfn = memory_.allocate_page();
        EXPECT_GE(gfn, 2u);
        EXPECT_LT(gfn, kFrames);
        gfns.insert(gfn);
    }
    EXPECT_EQ(gfns.size(), kFrames - 2);
    EXPECT_EQ(memory_.free_pages(), 0u);
    EXPECT_THROW(memory_.allocate_page(), std::bad_alloc);
    memory_.free_page(4);
    EXPECT_EQ(memory_.free_pages(), 1u);
    EXPECT_EQ(memory_.allocate_page(), 4u);
}

TEST_F(DomainMemoryTest, AnAllocatedPageIsZeroed) {
    std::memset(raw_, 0xab, kFrames * xen::kXenPageSize);
    const Gfn gfn = memory_.allocate_page();
    const auto page = memory_.page(gfn);
    EXPECT_TRUE(
        std::all_of(page.begin(), page.end(), [](std::byte b) { return b == std::byte{0}; }));
    // Its neighbours were left alone.
    EXPECT_EQ(raw_[gfn * xen::kXenPageSize - 1], std::byte{0xab});
    std::memset(page.data(), 0xcd, page.size());
    memory_.free_page(gfn);
    EXPECT_EQ(memory_.allocate_page(), gfn);
    EXPECT_EQ(memory_.page(gfn)[100], std::byte{0});
}

TEST_F(DomainMemoryTest, FreeingTwiceOrAFrameNeverAllocatedIsRejected) {
    const Gfn gfn = memory_.allocate_page();
    memory_.free_page(gfn);
    EXPECT_THROW(memory_.free_page(gfn), std::invalid_argument);
    EXPECT_THROW(memory_.free_page(0), std::invalid_argument);  // the hypervisor's
    EXPECT_THROW(memory_.free_page(kFrames), std::invalid_argument);
    // Recently freed pages come back first (they are warm), and may be freed
    // again once allocated again.
    EXPECT_EQ(memory_.allocate_page(), gfn);
    EXPECT_NO_THROW(memory_.free_page(gfn));
    EXPECT_EQ(memory_.free_pages(), kFrames - 2);
}

TEST(DomainMemorySmall, AFirstFreeFramePastTheEndLeavesNothingToAllocate) {
    test::TestShm shm;
    DomainMemory memory(shm.create("memory", 2 * xen::kXenPageSize), 5);
    EXPECT_EQ(memory.free_pages(), 0u);
    EXPECT_THROW(memory.allocate_page(), std::bad_alloc);
}

}  // namespace
}  // namespace pvsim::hypervisor
