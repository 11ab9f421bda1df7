// The request table both engines share, and how a request's system-call
// results become one completion: continued over short transfers, ended by
// end of file or an error, as pread(2) and pwrite(2) report them.
#include "backend/storage/io_request.hpp"

#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace pvsim::backend::storage {
namespace {

class ShortTransfer : public testing::Test {
  protected:
    ShortTransfer() {
        const std::vector<iovec> iov = {{buffer_, 100}, {buffer_ + 100, 200}, {buffer_ + 300, 300}};
        index_ = *table_.add_transfer(IoOp::read, 42, 4096, iov);
    }
    IoRequest& request() { return table_[index_]; }

    char buffer_[600] = {};
    RequestTable table_{4};
    std::uint32_t index_ = 0;
};

TEST_F(ShortTransfer, CopiesTheIovecsAndAddsUpTheirLength) {
    EXPECT_EQ(request().tag, 42u);
    EXPECT_EQ(request().op, IoOp::read);
    EXPECT_EQ(request().length, 600u);
    EXPECT_EQ(request().remaining_iov().size(), 3u);
    EXPECT_EQ(request().next_offset(), 4096u);
}

TEST_F(ShortTransfer, ContinuesFromWhereItStopped) {
    EXPECT_FALSE(request().settle(150).has_value());
    const auto rest = request().remaining_iov();
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0].iov_base, buffer_ + 150);
    EXPECT_EQ(rest[0].iov_len, 150u);
    EXPECT_EQ(rest[1].iov_base, buffer_ + 300);
    EXPECT_EQ(request().next_offset(), 4096u + 150);

    EXPECT_FALSE(request().settle(150).has_value());  // ends exactly on an iovec
    ASSERT_EQ(request().remaining_iov().size(), 1u);
    EXPECT_EQ(request().remaining_iov()[0].iov_base, buffer_ + 300);
    EXPECT_EQ(request().remaining_iov()[0].iov_len, 300u);

    EXPECT_EQ(request().settle(300), 600);
}

TEST_F(ShortTransfer, EndOfFileEndsItWithTheBytesMoved) {
    EXPECT_FALSE(request().settle(250).has_value());
    EXPECT_EQ(request().settle(0), 250);
}

TEST_F(ShortTransfer, AnErrorAfterSomeBytesReportsTheBytes) {
    EXPECT_FALSE(request().settle(10).has_value());
    EXPECT_EQ(request().settle(-EIO), 10);
}

TEST_F(ShortTransfer, AnErrorFirstIsTheResult) {
    EXPECT_EQ(request().settle(-EIO), -EIO);
}

TEST(IoRequest, NonTransfersTakeTheirResultAsIs) {
    RequestTable table(2);
    const auto flush = *table.add_flush(1);
    EXPECT_EQ(table[flush].settle(0), 0);
    const auto discard = *table.add_range(IoOp::discard, 2, 512, 4096, false);
    EXPECT_EQ(table[discard].offset, 512u);
    EXPECT_EQ(table[discard].length, 4096u);
    EXPECT_EQ(table[discard].settle(-EOPNOTSUPP), -EOPNOTSUPP);
}

TEST(RequestTable, HoldsDepthRequestsAndReusesFreedSlots) {
    RequestTable table(2);
    EXPECT_EQ(table.depth(), 2u);
    const auto a = table.add_flush(10);
    const auto b = table.add_range(IoOp::write_zeroes, 11, 0, 512, true);
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
    EXPECT_TRUE(table[*b].may_unmap);
    EXPECT_TRUE(table.full());
    EXPECT_EQ(table.in_flight(), 2u);
    EXPECT_FALSE(table.add_flush(12).has_value());

    EXPECT_EQ(table.release(*a), 10u);
    EXPECT_EQ(table.in_flight(), 1u);
    const auto c = table.add_transfer(IoOp::write, 13, 0, {});
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(*c, *a);
    EXPECT_EQ(table[*c].tag, 13u);
    EXPECT_EQ(table[*c].length, 0u);
    EXPECT_EQ(table[*c].settle(0), 0);
}

TEST(RequestTable, RefusesDepthZero) {
    EXPECT_THROW(RequestTable(0), std::invalid_argument);
}

}  // namespace
}  // namespace pvsim::backend::storage
