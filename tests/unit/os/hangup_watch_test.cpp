#include "common/os/hangup_watch.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/os/unix_socket.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/thread_state.hpp"

namespace pvsim::os {
namespace hangup_watch_test {

// The one thread of this process that `before` did not have.
pid_t new_thread(const std::set<pid_t>& before) {
    for (const pid_t tid : test::thread_ids()) {
        if (!before.contains(tid)) {
            return tid;
        }
    }
    return -1;
}

TEST(HangupWatch, WhatThePeerSendsStaysForItsReaderAndOnlyItsCloseIsReported) {
    auto [ours, theirs] = make_socket_pair();
    std::atomic<int> hangups{0};
    const std::set<pid_t> before = test::thread_ids();
    HangupWatch watch(ours.get(), [&] { ++hangups; });
    const pid_t watcher = new_thread(before);
    ASSERT_GT(watcher, 0);
    ASSERT_TRUE(test::eventually([&] { return test::blocked_in_poll(watcher); }));

    // A reply: the watch does not take it, and is back asleep without a
    // report (a report ends its thread).
    ASSERT_EQ(::send(theirs.get(), "ping", 4, MSG_NOSIGNAL), 4);
    char reply[4] = {};
    ASSERT_EQ(::recv(ours.get(), reply, sizeof reply, 0), 4);
    EXPECT_EQ(std::string(reply, 4), "ping");
    EXPECT_TRUE(test::blocked_in_poll(watcher));
    EXPECT_EQ(hangups.load(), 0);

    theirs.reset();
    EXPECT_TRUE(test::eventually([&] { return hangups.load() == 1; }));
}

TEST(HangupWatch, AWatchDestroyedFirstReportsNothing) {
    auto [ours, theirs] = make_socket_pair();
    std::atomic<int> hangups{0};
    {
        HangupWatch watch(ours.get(), [&] { ++hangups; });
    }
    // Its thread is joined: nothing is left to report the close.
    theirs.reset();
    EXPECT_EQ(hangups.load(), 0);
    // The caller's fd was copied, not taken.
    EXPECT_EQ(::recv(ours.get(), nullptr, 0, MSG_DONTWAIT), 0);
}

}  // namespace hangup_watch_test
}  // namespace pvsim::os
