// The checks every request passes before either driver's transport sees it
// (frontend/request_check.hpp), and the thread -> queue map both drivers
// use (frontend/queue_map.hpp).
#include <cerrno>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/block_request.hpp"

#include "frontend/queue_map.hpp"
#include "frontend/request_check.hpp"

namespace pvsim::frontend {
namespace {

using test::request_of;

TEST(RequestCheckTest, AWellFormedRequestInsideTheDiskPasses) {
    const GuestBuffer page{.pages = {7}, .length = 4096};
    std::string why;
    EXPECT_EQ(check_request(request_of(BlockOperation::read, 0, &page), 8, why), 0);
    EXPECT_EQ(check_request(request_of(BlockOperation::write, 0, &page), 8, why), 0);
    EXPECT_EQ(check_request(request_of(BlockOperation::discard, 6, nullptr, 2), 8, why), 0);
    EXPECT_EQ(check_request(request_of(BlockOperation::flush, 0, nullptr), 8, why), 0);
    EXPECT_EQ(why, "");
}

TEST(RequestCheckTest, MalformedRequestsFailWithEinvalSayingWhy) {
    const GuestBuffer odd{.pages = {1}, .length = 1000};
    const GuestBuffer empty{.pages = {1}, .length = 0};
    const GuestBuffer overrun{.pages = {1}, .length = 8192};
    const GuestBuffer page{.pages = {1}, .length = 4096};
    struct Case {
        BlockRequest request;
        const char* says;
    };
    const Case cases[] = {
        {request_of(BlockOperation::read, 0, nullptr), "needs a data buffer"},
        {request_of(BlockOperation::write, 0, &odd), "not a non-zero multiple of 512"},
        {request_of(BlockOperation::write, 0, &empty), "not a non-zero multiple of 512"},
        {request_of(BlockOperation::read, 0, &overrun), "exceeds its 1 pages"},
        {request_of(BlockOperation::flush, 0, &page), "a flush carries no data buffer"},
        {request_of(BlockOperation::discard, 0, &page, 8), "a discard carries no data buffer"},
        {request_of(BlockOperation::discard, 0, nullptr, 0), "a discard of no sectors"},
    };
    for (const Case& c : cases) {
        std::string why;
        EXPECT_EQ(check_request(c.request, 1 << 20, why), -EINVAL) << c.says;
        EXPECT_NE(why.find(c.says), std::string::npos) << why;
    }
}

TEST(RequestCheckTest, SectorsPastTheEndFailWithEioAsBioCheckEod) {
    const GuestBuffer two_pages{.pages = {1, 2}, .length = 8192};
    std::string why;
    // 16 sectors from 0 fit a 16-sector disk exactly; from 1 they do not.
    EXPECT_EQ(check_request(request_of(BlockOperation::read, 0, &two_pages), 16, why), 0);
    EXPECT_EQ(check_request(request_of(BlockOperation::read, 1, &two_pages), 16, why), -EIO);
    EXPECT_NE(why.find("past the end (16 sectors)"), std::string::npos) << why;
    EXPECT_EQ(check_request(request_of(BlockOperation::discard, 17, nullptr, 1), 16, why), -EIO);
    // A sector so large that sector + count wraps is still past the end.
    EXPECT_EQ(check_request(request_of(BlockOperation::discard, ~0ULL, nullptr, 2), 16, why), -EIO);
}

TEST(QueueMapTest, ThreadsAreGivenQueuesRoundRobinAndKeepThem) {
    QueueMap map;
    const auto none = [](std::size_t) { return std::thread::id(); };
    // Three live threads (a finished thread's id may be given again).
    std::latch done(1);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&done] { done.wait(); });
    }
    EXPECT_EQ(map.queue_for(threads[0].get_id(), 2, none), 0u);
    EXPECT_EQ(map.queue_for(threads[1].get_id(), 2, none), 1u);
    EXPECT_EQ(map.queue_for(threads[2].get_id(), 2, none), 0u);
    EXPECT_EQ(map.queue_for(threads[1].get_id(), 2, none), 1u);
    done.count_down();
    for (std::thread& thread : threads) {
        thread.join();
    }
}

TEST(QueueMapTest, AQueuesCompletionThreadAlwaysSubmitsToItsOwnQueue) {
    QueueMap map;
    const std::thread::id self = std::this_thread::get_id();
    // This thread is queue 2's completion thread: never given another.
    const auto completion = [self](std::size_t i) { return i == 2 ? self : std::thread::id(); };
    EXPECT_EQ(map.queue_for(self, 3, completion), 2u);
    EXPECT_EQ(map.queue_for(self, 3, completion), 2u);
}

}  // namespace
}  // namespace pvsim::frontend
