#include "common/os/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/os/event_fd.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::os {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kPeer = PVSIM_TEST_PEER;

bool reaped(pid_t pid) {
    int status;
    return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

TEST(ChildProcess, ReportsTheExitCode) {
    ChildProcess child = ChildProcess::spawn(kPeer, {"exit", "7"});
    EXPECT_GT(child.pid(), 0);
    const ExitStatus status = child.wait();
    EXPECT_TRUE(status.exited());
    EXPECT_FALSE(status.success());
    EXPECT_EQ(status.code, 7);
    EXPECT_EQ(status.describe(), "exited with status 7");
    EXPECT_FALSE(child.running());
    EXPECT_TRUE(ChildProcess::spawn(kPeer, {"exit", "0"}).wait().success());
}

TEST(ChildProcess, ReportsTheSignal) {
    ChildProcess child = ChildProcess::spawn(kPeer, {"pause"});
    EXPECT_FALSE(child.try_wait().has_value());
    child.kill(SIGTERM);
    const ExitStatus status = child.wait();
    EXPECT_FALSE(status.exited());
    EXPECT_EQ(status.signal, SIGTERM);
    EXPECT_THAT(status.describe(), HasSubstr("killed by signal 15"));
}

TEST(ChildProcess, TryWaitReapsAnEndedChild) {
    ChildProcess child = ChildProcess::spawn(kPeer, {"exit", "3"});
    const pid_t pid = child.pid();
    // Block until it has ended, without reaping it, then let try_wait reap.
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
    const auto status = child.try_wait();
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->code, 3);
    EXPECT_TRUE(reaped(pid));
    EXPECT_THROW((void)child.wait(), std::system_error);
}

TEST(ChildProcess, DestructionKillsAndReaps) {
    pid_t pid;
    {
        ChildProcess child = ChildProcess::spawn(kPeer, {"pause"});
        pid = child.pid();
    }
    EXPECT_TRUE(reaped(pid));
}

TEST(ChildProcess, MoveTransfersTheChild) {
    ChildProcess child = ChildProcess::spawn(kPeer, {"exit", "4"});
    const pid_t pid = child.pid();
    ChildProcess moved(std::move(child));
    EXPECT_FALSE(child.running());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.pid(), pid);
    EXPECT_EQ(moved.wait().code, 4);
}

TEST(ChildProcess, MissingProgramNamesIt) {
    try {
        (void)ChildProcess::spawn("/nonexistent/pvsim-peer", {});
        FAIL() << "spawned a missing program";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_THAT(e.what(), HasSubstr("posix_spawn /nonexistent/pvsim-peer"));
    }
}

// The child gets exactly the fds it is given, at the numbers asked, even
// when a number is that of another source fd, and nothing else: not even
// an fd of this process that lacks close-on-exec.
TEST(ChildProcess, InheritsExactlyTheFdsGiven) {
    UniqueFd leaky(::open("/dev/null", O_RDONLY));  // no O_CLOEXEC on purpose
    ASSERT_TRUE(leaky);
    UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    UniqueFd b(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(a && b);
    SpawnOptions options;
    // b goes to a's number and a to a number above it: a naive dup2 order
    // would overwrite a before copying it.
    options.fds = {{b.get(), a.get()}, {a.get(), a.get() + 10}};
    ChildProcess child = ChildProcess::spawn(
        kPeer, {"check-fds", std::to_string(a.get()), std::to_string(a.get() + 10)}, options);
    EXPECT_EQ(child.wait().code, 0);
    ChildProcess none = ChildProcess::spawn(kPeer, {"check-fds"});
    EXPECT_EQ(none.wait().code, 0);
}

// Each fd lands where asked even when the numbers are swapped: the peer
// waits on what it gets as ping's number (really pong) and answers on pong's
// number (really ping).
TEST(ChildProcess, SwappedFdNumbers) {
    EventFd ping;
    EventFd pong;
    SpawnOptions options;
    options.fds = {{ping.fd(), pong.fd()}, {pong.fd(), ping.fd()}};
    ChildProcess child = ChildProcess::spawn(
        kPeer, {"eventfd-pingpong", std::to_string(pong.fd()), std::to_string(ping.fd()), "1"},
        options);
    ping.signal(5);
    EXPECT_EQ(pong.wait(), 1005u);
    EXPECT_TRUE(child.wait().success());
}

TEST(ChildProcess, RejectsBadFdMaps) {
    SpawnOptions options;
    options.fds = {{STDOUT_FILENO, -1}};
    EXPECT_THROW((void)ChildProcess::spawn(kPeer, {"exit", "0"}, options), std::system_error);
    options.fds = {{STDOUT_FILENO, 5}, {STDERR_FILENO, 5}};
    EXPECT_THROW((void)ChildProcess::spawn(kPeer, {"exit", "0"}, options), std::system_error);
    options.fds = {{12345, 5}};  // not open here
    EXPECT_THROW((void)ChildProcess::spawn(kPeer, {"exit", "0"}, options), std::system_error);
}

// A file can become the child's stdout and stderr (a domain's console): the
// peer's usage message, written to its stderr, lands in the file.
TEST(ChildProcess, AFileCanBecomeTheStandardStreams) {
    char path[] = "/tmp/pvsim-console-XXXXXX";
    UniqueFd console(::mkstemp(path));
    ASSERT_TRUE(console);
    ::unlink(path);
    SpawnOptions options;
    options.fds = {{console.get(), STDOUT_FILENO}, {console.get(), STDERR_FILENO}};
    ChildProcess child = ChildProcess::spawn(kPeer, {}, options);
    EXPECT_EQ(child.wait().code, 1);
    std::string text(4096, '\0');
    const ssize_t n = ::pread(console.get(), text.data(), text.size(), 0);
    ASSERT_GT(n, 0);
    text.resize(static_cast<std::size_t>(n));
    EXPECT_THAT(text, HasSubstr("usage: pvsim_test_peer"));
}

// The pidfd becomes readable when the child ends, not before; reaping is
// still wait()'s.
TEST(ChildProcess, ThePidfdBecomesReadableWhenTheChildEnds) {
    ChildProcess child = ChildProcess::spawn(kPeer, {"pause"});
    UniqueFd pidfd = child.open_pidfd();
    ASSERT_TRUE(pidfd);
    EXPECT_NE(::fcntl(pidfd.get(), F_GETFD) & FD_CLOEXEC, 0);
    pollfd entry{pidfd.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 0), 0);
    child.kill(SIGKILL);
    EXPECT_EQ(::poll(&entry, 1, -1), 1);
    EXPECT_EQ(child.wait().signal, SIGKILL);
    EXPECT_THROW((void)child.open_pidfd(), std::system_error);
}

}  // namespace
}  // namespace pvsim::os
