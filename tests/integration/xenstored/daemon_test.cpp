// pvsim-xenstored as a process of a run (DESIGN.md §1, §8): one per run
// directory, its socket where XENSTORED_PATH points, its log in the run
// directory, an orderly end on SIGTERM that leaves no socket behind, and
// the socket served even when no hypervisor runs.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/os/child_process.hpp"
#include "tests/integration/xenstored/raw_client.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::test {
namespace {

using namespace std::chrono_literals;

TEST(XenstoredDaemon, ServesItsSocketAndLogsToTheRunDirectory) {
    XenstoredProcess xenstored;
    EXPECT_TRUE(std::filesystem::is_socket(xenstored.socket_path()));
    EXPECT_EQ(xenstored.socket_path(), xenstored.run_dir().path() / "xenstored" / "socket");
    // Only its user may speak to it as dom0.
    const auto perms = std::filesystem::status(xenstored.socket_path()).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    RawXsClient client(xenstored.socket_path());
    client.write("/tool/daemon", "up");
    EXPECT_EQ(client.read("/tool/daemon"), "up");
    EXPECT_NE(xenstored.log().find("serving " + xenstored.socket_path().string()),
              std::string::npos)
        << xenstored.log();
}

TEST(XenstoredDaemon, RefusesASecondInstanceInTheSameRun) {
    XenstoredProcess first;
    RawXsClient client(first.socket_path());
    client.write("/tool/first", "mine");

    const auto [status, err] = run_to_exit(PVSIM_XENSTORED, first.run_dir().path(),
                                           {"--run-dir", first.run_dir().path().string()});
    EXPECT_TRUE(status.exited());
    EXPECT_EQ(status.code, 1);
    EXPECT_NE(err.find("already running"), std::string::npos) << err;

    // The first one still serves, its socket and its data untouched.
    EXPECT_TRUE(first.process().running());
    EXPECT_EQ(RawXsClient(first.socket_path()).read("/tool/first"), "mine");
    EXPECT_EQ(client.read("/tool/first"), "mine");
}

TEST(XenstoredDaemon, SigtermStopsItAndLeavesNoSocket) {
    XenstoredProcess xenstored;
    RawXsClient client(xenstored.socket_path());
    client.write("/tool/bye", "soon");
    const std::filesystem::path socket = xenstored.socket_path();
    const os::ExitStatus status = xenstored.stop();
    EXPECT_TRUE(status.success()) << status.describe();
    EXPECT_FALSE(std::filesystem::exists(socket));
    // Its clients see the end of the stream.
    EXPECT_TRUE(client.closed_by_daemon());
    EXPECT_NE(xenstored.log().find("signal 15 (TERM)"), std::string::npos) << xenstored.log();
}

TEST(XenstoredDaemon, SigintStopsItToo) {
    XenstoredProcess xenstored;
    xenstored.process().kill(SIGINT);
    const os::ExitStatus status = xenstored.process().wait();
    EXPECT_TRUE(status.success()) << status.describe();
    EXPECT_FALSE(std::filesystem::exists(xenstored.socket_path()));
}

TEST(XenstoredDaemon, ReplacesAStaleSocketOfAKilledPredecessor) {
    TempDir temp;
    const RunDir run_dir = RunDir::open(temp.path() / "run");
    {
        XenstoredProcess killed(run_dir);
        killed.process().kill(SIGKILL);
        killed.process().wait();
        ASSERT_TRUE(std::filesystem::exists(run_dir.xenstored_socket()));
    }
    XenstoredProcess successor(run_dir);
    RawXsClient client(successor.socket_path());
    client.write("/tool/again", "yes");
    EXPECT_EQ(client.read("/tool/again"), "yes");
    EXPECT_NE(successor.log().find("removed the stale socket"), std::string::npos);
}

TEST(XenstoredDaemon, WithoutAHypervisorIntroduceIsENOSYS) {
    XenstoredProcess xenstored;
    RawXsClient client(xenstored.socket_path());
    const XsMessage reply = client.request(xs::MessageType::introduce, xs_args({"1", "0", "5"}));
    EXPECT_EQ(reply.type(), xs::MessageType::error);
    EXPECT_EQ(reply.payload, xs_args({"ENOSYS"}));
    const XsMessage introduced =
        client.request(xs::MessageType::is_domain_introduced, xs_args({"1"}));
    EXPECT_EQ(introduced.payload, xs_args({"F"}));
    // Everything else is served.
    client.write("/tool/still", "served");
    EXPECT_EQ(client.read("/tool/still"), "served");
}

TEST(XenstoredDaemon, AStaleHypervisorSocketIsLikeNoHypervisor) {
    TempDir temp;
    const RunDir run_dir = RunDir::open(temp.path() / "run");
    {
        // A socket file nobody listens on, as a killed hypervisor leaves.
        os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        const std::string path = run_dir.hypervisor_socket().string();
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    }
    XenstoredProcess xenstored(run_dir);
    RawXsClient client(xenstored.socket_path());
    const XsMessage reply = client.request(xs::MessageType::introduce, xs_args({"1", "0", "5"}));
    EXPECT_EQ(reply.payload, xs_args({"ENOSYS"}));
    client.write("/tool/still", "served");
    EXPECT_EQ(client.read("/tool/still"), "served");
    EXPECT_NE(xenstored.log().find("cannot connect to the hypervisor"), std::string::npos)
        << xenstored.log();
}

TEST(XenstoredDaemon, AcceptsTheCDaemonsQuotaOptions) {
    XenstoredProcess xenstored({"--entry-nb", "50", "-S", "1024", "--watch-nb", "4",
                                "--transaction", "2", "--quota", "outstanding=3", "-Q", "nodes=60",
                                "-w", "watch-event=7"});
    EXPECT_NE(xenstored.log().find("quotas: 60 nodes, 1024 bytes per node, 4 watches, 2 "
                                   "transactions, 3 outstanding requests per domain; watch "
                                   "events wait 7000 ms"),
              std::string::npos)
        << xenstored.log();
}

TEST(XenstoredDaemon, RejectsBadOptionsWithAClearMessage) {
    TempDir temp;
    const std::string run = (temp.path() / "run").string();
    {
        const auto [status, err] =
            run_to_exit(PVSIM_XENSTORED, temp.path(), {"--run-dir", run, "--quota", "x=1"});
        EXPECT_EQ(status.code, 1);
        EXPECT_NE(err.find("unknown quota \"x\""), std::string::npos) << err;
    }
    {
        const auto [status, err] =
            run_to_exit(PVSIM_XENSTORED, temp.path(), {"--run-dir", run, "--quota", "outstanding"});
        EXPECT_EQ(status.code, 1);
        EXPECT_NE(err.find("<what>=<nb>"), std::string::npos) << err;
    }
    {
        const auto [status, err] =
            run_to_exit(PVSIM_XENSTORED, temp.path(), {"--run-dir", run, "--timeout", "watch=5"});
        EXPECT_EQ(status.code, 1);
        EXPECT_NE(err.find("unknown timeout \"watch\""), std::string::npos) << err;
    }
    {
        const auto [status, err] =
            run_to_exit(PVSIM_XENSTORED, temp.path(), {"--run-dir", run, "--log-level", "chatty"});
        EXPECT_EQ(status.code, 1);
        EXPECT_NE(err.find("invalid log level \"chatty\""), std::string::npos) << err;
    }
    {
        const auto [status, err] =
            run_to_exit(PVSIM_XENSTORED, temp.path(), {"--run-dir", run, "--entry-nb", "x"});
        EXPECT_NE(status.code, 0);
        EXPECT_NE(err.find("--entry-nb"), std::string::npos) << err;
    }
}

TEST(XenstoredDaemon, LastLogLevelWins) {
    XenstoredProcess xenstored({"--log-level", "info", "--log-level", "trace"});
    RawXsClient client(xenstored.socket_path());
    client.write("/tool/traced", "1");
    // Requests are logged at trace level only.
    EXPECT_TRUE(eventually([&] { return xenstored.log().find("XS_WRITE") != std::string::npos; }))
        << xenstored.log();
}

}  // namespace
}  // namespace pvsim::test
