// Every descriptor chain is walked and validated before any byte of it is
// used: loops, indices out of range, buffers outside the memory table,
// indirect tables in indirect tables, chains too long, readable after
// writable.
#include <gtest/gtest.h>

#include <string>

#include "backend/vhost_user_blk/desc_chain.hpp"
#include "chain_fixture.hpp"

namespace {

using pvsim::backend::vhost_user_blk::ChainLimits;
using pvsim::backend::vhost_user_blk::DescChain;
using pvsim::backend::vhost_user_blk::walk_chain;
using pvsim::test::ChainFixture;
using pvsim::test::GuestBuffer;
using pvsim::virtio::kDescFIndirect;
using pvsim::virtio::kDescFNext;
using pvsim::virtio::kDescFWrite;
using pvsim::virtio::VirtqDesc;

class DescChainTest : public ::testing::Test, protected ChainFixture {
  protected:
    ChainLimits limits{.indirect = true, .max_descriptors = kQueueSize, .max_bytes = 1 << 20};
    DescChain chain;

    std::string walk(std::uint16_t head) {
        return walk_chain(device_view(), table, head, limits, chain);
    }
    std::uint64_t buf(std::uint32_t len) { return memory.allocate(len); }
};

TEST_F(DescChainTest, AWellFormedChainGivesItsBuffersInOrder) {
    const std::uint16_t head = queue.write_chain(
        {{buf(16), 16, false}, {buf(4096), 4096, false}, {buf(512), 512, true}, {buf(1), 1, true}});
    ASSERT_EQ(walk(head), "");
    ASSERT_EQ(chain.buffers.size(), 4u);
    EXPECT_EQ(chain.readable_bytes, 16u + 4096u);
    EXPECT_EQ(chain.writable_bytes, 513u);
    EXPECT_FALSE(chain.indirect);
    EXPECT_TRUE(chain.buffers[3].writable);
}

TEST_F(DescChainTest, AnIndirectTableIsWalked) {
    const std::uint16_t head =
        queue.write_indirect({{buf(16), 16, false}, {buf(8192), 8192, true}, {buf(1), 1, true}});
    ASSERT_EQ(walk(head), "");
    EXPECT_TRUE(chain.indirect);
    EXPECT_EQ(chain.buffers.size(), 3u);
    EXPECT_EQ(chain.writable_bytes, 8193u);
}

TEST_F(DescChainTest, ALoopIsRefused) {
    const std::uint64_t b = buf(16);
    queue.view().set_desc(3, VirtqDesc{b, 16, kDescFNext, 4});
    queue.view().set_desc(4, VirtqDesc{b, 16, kDescFNext, 3});
    EXPECT_NE(walk(3).find("loop"), std::string::npos);
    // A descriptor chained to itself.
    queue.view().set_desc(5, VirtqDesc{b, 0, kDescFNext, 5});
    EXPECT_NE(walk(5).find("loop"), std::string::npos);
}

TEST_F(DescChainTest, NextOutOfRangeIsRefused) {
    queue.view().set_desc(0, VirtqDesc{buf(16), 16, kDescFNext, kQueueSize});
    EXPECT_NE(walk(0).find("out of range"), std::string::npos);
}

TEST_F(DescChainTest, ABufferOutsideTheMemoryTableIsRefused) {
    queue.view().set_desc(0, VirtqDesc{memory.size() - 8, 16, kDescFWrite, 0});
    EXPECT_NE(walk(0).find("outside the memory table"), std::string::npos);
    queue.view().set_desc(0, VirtqDesc{~std::uint64_t{0} - 4, 16, kDescFWrite, 0});
    EXPECT_NE(walk(0).find("outside the memory table"), std::string::npos);
}

TEST_F(DescChainTest, IndirectInIndirectIsRefused) {
    const std::uint64_t inner = memory.allocate(16);
    const std::uint64_t outer = memory.allocate(16);
    const VirtqDesc nested{inner, 16, kDescFIndirect, 0};
    std::memcpy(memory.at(outer), &nested, sizeof(nested));
    queue.view().set_desc(0, VirtqDesc{outer, 16, kDescFIndirect, 0});
    EXPECT_NE(walk(0).find("itself indirect"), std::string::npos);
}

TEST_F(DescChainTest, IndirectNeedsTheFeatureAndAWholeTable) {
    const std::uint16_t head = queue.write_indirect({{buf(16), 16, false}, {buf(1), 1, true}});
    limits.indirect = false;
    EXPECT_NE(walk(head).find("not negotiated"), std::string::npos);
    limits.indirect = true;
    queue.view().set_desc(7, VirtqDesc{buf(24), 24, kDescFIndirect, 0});
    EXPECT_NE(walk(7).find("multiple"), std::string::npos);
    queue.view().set_desc(8, VirtqDesc{buf(32), 32, kDescFIndirect | kDescFNext, 9});
    EXPECT_NE(walk(8).find("VIRTQ_DESC_F_NEXT"), std::string::npos);
}

TEST_F(DescChainTest, TooLongChainsAreRefused) {
    // More descriptors than the queue size, through an indirect table.
    std::vector<GuestBuffer> many(kQueueSize + 1, GuestBuffer{buf(16), 16, false});
    const std::uint16_t head = queue.write_indirect(many);
    EXPECT_NE(walk(head).find("more than"), std::string::npos);
    // More bytes than the limit.
    limits.max_bytes = 4096;
    const std::uint16_t big = queue.write_chain({{buf(16), 16, false}, {buf(8192), 8192, true}});
    EXPECT_NE(walk(big).find("more than 4096 bytes"), std::string::npos);
}

TEST_F(DescChainTest, ReadableAfterWritableIsRefused) {
    const std::uint16_t head =
        queue.write_chain({{buf(16), 16, false}, {buf(1), 1, true}, {buf(16), 16, false}});
    EXPECT_NE(walk(head).find("follows a device-writable"), std::string::npos);
}

}  // namespace
