#include "common/os/event_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pvsim::os {
namespace {

using ::testing::HasSubstr;

TEST(EventFd, SignalsAddUpUntilConsumed) {
    EventFd event;
    EXPECT_EQ(event.try_consume(), 0u);
    event.signal();
    event.signal(2);
    EXPECT_EQ(event.try_consume(), 3u);
    EXPECT_EQ(event.try_consume(), 0u);
}

TEST(EventFd, TryConsumeNeverBlocksOnABlockingFd) {
    EventFd event(EventFd::Options{.nonblocking = false});
    EXPECT_EQ(::fcntl(event.fd(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_EQ(event.try_consume(), 0u);  // would hang here if it read blindly
}

TEST(EventFd, NonblockingFlagIsSet) {
    EventFd event(EventFd::Options{.nonblocking = true});
    EXPECT_NE(::fcntl(event.fd(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_EQ(event.try_consume(), 0u);
    event.signal(5);
    EXPECT_EQ(event.wait(), 5u);
}

TEST(EventFd, SemaphoreModeTakesOneAtATime) {
    EventFd event(EventFd::Options{.semaphore = true});
    event.signal(2);
    EXPECT_EQ(event.try_consume(), 1u);
    EXPECT_EQ(event.wait(), 1u);
    EXPECT_EQ(event.try_consume(), 0u);
}

TEST(EventFd, IsCloseOnExec) {
    EventFd event;
    EXPECT_NE(::fcntl(event.fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(EventFd, WaitBlocksUntilSignalled) {
    for (const bool nonblocking : {false, true}) {
        EventFd event(EventFd::Options{.nonblocking = nonblocking});
        std::uint64_t seen = 0;
        std::thread waiter([&] { seen = event.wait(); });
        event.signal(7);
        waiter.join();
        EXPECT_EQ(seen, 7u) << "nonblocking=" << nonblocking;
    }
}

TEST(EventFd, ACopyOfTheFdSharesTheCounter) {
    EventFd event;
    EventFd other(event.duplicate());
    other.signal(4);
    EXPECT_EQ(event.try_consume(), 4u);
}

TEST(EventFd, AdoptingKeepsTheNonblockingMode) {
    EventFd event(EventFd::Options{.nonblocking = true});
    EventFd adopted(event.release());
    EXPECT_EQ(event.fd(), -1);
    EXPECT_EQ(adopted.try_consume(), 0u);
    adopted.signal();
    EXPECT_EQ(adopted.wait(), 1u);
}

TEST(EventFd, RejectsAnFdThatIsNotAnEventfd) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd write_end(pipe_fds[1]);
    try {
        EventFd event{UniqueFd(pipe_fds[0])};
        FAIL() << "a pipe was accepted as an eventfd";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EINVAL);
        EXPECT_THAT(e.what(), HasSubstr("is not an eventfd"));
    }
    EXPECT_THROW(EventFd{UniqueFd()}, std::system_error);
}

TEST(EventFd, SignalOutOfRangeIsAnError) {
    EventFd event;
    try {
        event.signal(UINT64_MAX);  // eventfd(2): 0xffffffffffffffff is EINVAL
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EINVAL);
        EXPECT_THAT(e.what(), HasSubstr("write eventfd"));
    }
}

TEST(EventFd, SaturatedNonblockingCounterStillCountsAsSignalled) {
    EventFd event(EventFd::Options{.nonblocking = true});
    event.signal(UINT64_MAX - 1);  // the largest value the counter holds
    event.signal(1);               // would overflow: EAGAIN, already signalled
    EXPECT_EQ(event.try_consume(), UINT64_MAX - 1);
}

}  // namespace
}  // namespace pvsim::os
