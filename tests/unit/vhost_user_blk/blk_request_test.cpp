// A walked chain read as a virtio-blk request: the status it earns when it
// cannot be served (virtio 1.2 §5.2.6).
#include <gtest/gtest.h>

#include "backend/vhost_user_blk/blk_request.hpp"
#include "backend/vhost_user_blk/desc_chain.hpp"
#include "chain_fixture.hpp"

namespace {

using namespace pvsim::backend::vhost_user_blk;
using pvsim::test::BlkBuffers;
using pvsim::test::ChainFixture;
using pvsim::test::make_blk_request;
using pvsim::virtio::BlkFeature;
using pvsim::virtio::BlkReqType;
using pvsim::virtio::BlkStatus;
using pvsim::virtio::feature_mask;

class BlkRequestTest : public ::testing::Test, protected ChainFixture {
  protected:
    BlkLimits limits{.capacity_sectors = 2048, .read_only = false, .seg_max = 14};
    std::uint64_t features = feature_mask(BlkFeature::flush) | feature_mask(BlkFeature::discard) |
                             feature_mask(BlkFeature::write_zeroes);
    DescChain chain;
    BlkRequest request;

    ParseResult parse(const std::vector<pvsim::test::GuestBuffer>& buffers) {
        const std::uint16_t head = queue.write_chain(buffers);
        const ChainLimits chain_limits{
            .indirect = true, .max_descriptors = kQueueSize, .max_bytes = 1 << 20};
        EXPECT_EQ(walk_chain(device_view(), table, head, chain_limits, chain), "");
        return parse_request(chain, limits, features, request);
    }
};

TEST_F(BlkRequestTest, ReadAndWriteAreServedWithTheirData) {
    const BlkBuffers r = make_blk_request(memory, BlkReqType::in, 8, 4096);
    ParseResult p = parse(r.chain(true));
    EXPECT_EQ(p.disposition, Disposition::serve) << p.reason;
    EXPECT_EQ(request.data_bytes, 4096u);
    EXPECT_EQ(request.offset(), 8u * 512);
    EXPECT_EQ(request.status, table.translate_guest(r.status, 1));

    const BlkBuffers w = make_blk_request(memory, BlkReqType::out, 0, 1024);
    p = parse(w.chain(false));
    EXPECT_EQ(p.disposition, Disposition::serve) << p.reason;
    EXPECT_EQ(request.data_bytes, 1024u);
}

TEST_F(BlkRequestTest, AHeaderSplitAcrossDescriptorsIsRead) {
    const BlkBuffers r = make_blk_request(memory, BlkReqType::in, 5, 512);
    const ParseResult p = parse(
        {{r.header, 7, false}, {r.header + 7, 9, false}, {r.data, 512, true}, {r.status, 1, true}});
    EXPECT_EQ(p.disposition, Disposition::serve) << p.reason;
    EXPECT_EQ(request.sector, 5u);
}

TEST_F(BlkRequestTest, WrongDirectionIsAnIoError) {
    const BlkBuffers r = make_blk_request(memory, BlkReqType::in, 0, 512);
    ParseResult p = parse(r.chain(false));  // read data the device may not write
    EXPECT_EQ(p.disposition, Disposition::answer);
    EXPECT_EQ(p.status, BlkStatus::ioerr);
    const BlkBuffers w = make_blk_request(memory, BlkReqType::out, 0, 512);
    p = parse(w.chain(true));  // write data the device would have to read from a writable buffer
    EXPECT_EQ(p.status, BlkStatus::ioerr);
}

TEST_F(BlkRequestTest, AMissingStatusByteDropsTheChain) {
    const BlkBuffers r = make_blk_request(memory, BlkReqType::out, 0, 512);
    const ParseResult p = parse({{r.header, 16, false}, {r.data, 512, false}});
    EXPECT_EQ(p.disposition, Disposition::drop);
}

TEST_F(BlkRequestTest, AShortHeaderIsAnIoError) {
    const BlkBuffers r = make_blk_request(memory, BlkReqType::in, 0, 0);
    const ParseResult p = parse({{r.header, 8, false}, {r.status, 1, true}});
    EXPECT_EQ(p.status, BlkStatus::ioerr);
}

TEST_F(BlkRequestTest, RangesPastTheCapacityOrPartialSectorsAreIoErrors) {
    ParseResult p = parse(make_blk_request(memory, BlkReqType::in, 2047, 1024).chain(true));
    EXPECT_EQ(p.status, BlkStatus::ioerr);
    p = parse(make_blk_request(memory, BlkReqType::in, 0, 100).chain(true));
    EXPECT_EQ(p.status, BlkStatus::ioerr);
    p = parse(make_blk_request(memory, BlkReqType::in, ~std::uint64_t{0}, 512).chain(true));
    EXPECT_EQ(p.status, BlkStatus::ioerr);
}

TEST_F(BlkRequestTest, WritesToAReadOnlyDeviceAreIoErrors) {
    limits.read_only = true;
    const ParseResult p = parse(make_blk_request(memory, BlkReqType::out, 0, 512).chain(false));
    EXPECT_EQ(p.status, BlkStatus::ioerr);
}

TEST_F(BlkRequestTest, UnknownOrUnnegotiatedTypesAreUnsupported) {
    ParseResult p = parse(make_blk_request(memory, static_cast<BlkReqType>(99), 0, 0).chain(false));
    EXPECT_EQ(p.disposition, Disposition::answer);
    EXPECT_EQ(p.status, BlkStatus::unsupp);
    features = 0;
    p = parse(make_blk_request(memory, BlkReqType::flush, 0, 0).chain(false));
    EXPECT_EQ(p.status, BlkStatus::unsupp);
}

TEST_F(BlkRequestTest, DiscardRangesAreChecked) {
    auto discard = [&](std::uint64_t sector, std::uint32_t count, std::uint32_t flags) {
        BlkBuffers r = make_blk_request(memory, BlkReqType::discard, 0, 512);
        const pvsim::virtio::VirtioBlkDiscardWriteZeroes range{sector, count, flags};
        std::memcpy(memory.at(r.data), &range, sizeof(range));
        r.data_len = sizeof(range);
        return parse(r.chain(false));
    };
    ParseResult p = discard(8, 8, 0);
    EXPECT_EQ(p.disposition, Disposition::serve) << p.reason;
    EXPECT_EQ(request.range.sector, 8u);
    EXPECT_EQ(request.range.num_sectors, 8u);
    // §5.2.6.2: the unmap flag on a discard is unsupported.
    EXPECT_EQ(discard(8, 8, pvsim::virtio::kBlkWriteZeroesFlagUnmap).status, BlkStatus::unsupp);
    EXPECT_EQ(discard(2040, 16, 0).status, BlkStatus::ioerr);
}

}  // namespace
