// The plumbing across a real process boundary: the peer is a separate
// program (tests/support/peer_main.cpp) that shares memory, receives and
// sends fds, and waits on and signals eventfds, as domain processes will.

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "common/os/child_process.hpp"
#include "common/os/event_fd.hpp"
#include "common/os/shared_memory.hpp"
#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::os {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace cross_process_test {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::filesystem::path kPeer = PVSIM_TEST_PEER;
constexpr std::size_t kReplyOffset = 4096;  // where the peer answers (peer_main.cpp)

std::string c_string_at(const SharedMemory& shm, std::size_t offset) {
    const char* start = reinterpret_cast<const char*>(shm.data() + offset);
    return std::string(start, strnlen(start, shm.size() - offset));
}

std::span<const std::byte> bytes_of(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

class CrossProcess : public ::testing::Test {
  protected:
    ~CrossProcess() override { remove_run_shm(run_.shm_tag()); }

    std::string name(std::string_view what) const { return shm_name(run_.shm_tag(), what); }

    test::TempDir dir_;
    RunDir run_ = RunDir::open(dir_.path());
};

// (a) Memory written here is read there, and the peer's answer is seen here.
TEST_F(CrossProcess, SharedMemoryBothWays) {
    SharedMemory shm = SharedMemory::create(name("dom1.memory"), 2 * 4096);
    std::strcpy(reinterpret_cast<char*>(shm.data()), "written by the test");
    ChildProcess peer = ChildProcess::spawn(
        kPeer, {"shm-exchange", shm.name(), "written by the test", "answered by the peer"});
    ASSERT_TRUE(peer.wait().success());
    EXPECT_EQ(c_string_at(shm, kReplyOffset), "answered by the peer");
}

TEST_F(CrossProcess, SharedMemoryMismatchIsSeenByThePeer) {
    SharedMemory shm = SharedMemory::create(name("dom1.memory"), 2 * 4096);
    std::strcpy(reinterpret_cast<char*>(shm.data()), "something else");
    ChildProcess peer =
        ChildProcess::spawn(kPeer, {"shm-exchange", shm.name(), "written by the test", "x"});
    EXPECT_EQ(peer.wait().code, 3);
    EXPECT_EQ(c_string_at(shm, kReplyOffset), "");
}

// (b) A pipe, the shared memory and an eventfd sent over a socket the peer
// inherited; the peer uses all three and the effects show up here.
TEST_F(CrossProcess, FdsPassedToThePeerWork) {
    auto [here, there] = make_socket_pair();
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd pipe_read(pipe_fds[0]);
    UniqueFd pipe_write(pipe_fds[1]);
    SharedMemory shm = SharedMemory::create(name("dom2.memory"), 4096);
    EventFd done;

    SpawnOptions options;
    options.fds = {{there.get(), 3}};
    ChildProcess peer = ChildProcess::spawn(kPeer, {"fd-use", "3"}, options);
    there.reset();

    const int fds[] = {pipe_write.get(), shm.fd(), done.fd()};
    send_with_fds(here.get(), bytes_of("ring-ref"), fds);
    pipe_write.reset();  // the peer now holds the only write end

    EXPECT_EQ(done.wait(), 8u);  // the peer signalled with the message's length
    char text[32] = {};
    std::size_t got = 0;
    ssize_t n;
    while ((n = ::read(pipe_read.get(), text + got, sizeof(text) - 1 - got)) > 0) {
        got += static_cast<std::size_t>(n);
    }
    EXPECT_STREQ(text, "ring-ref");  // and read() saw EOF: the peer's copy is closed too
    EXPECT_EQ(c_string_at(shm, 0), "fer-gnir");
    EXPECT_TRUE(peer.wait().success());
}

// (b) The other way: the peer creates memory and an eventfd and sends their
// fds; received asynchronously here, they work after the peer has exited and
// removed the memory's name.
TEST_F(CrossProcess, FdsPassedFromThePeerWork) {
    boost::asio::io_context context;
    auto [here, there] = make_socket_pair();
    LocalSocket socket = adopt_socket(context, std::move(here));
    SpawnOptions options;
    options.fds = {{there.get(), 7}};
    ChildProcess peer =
        ChildProcess::spawn(kPeer, {"fd-give", "7", name("peer.memory"), "from the peer"}, options);
    there.reset();

    std::vector<std::byte> buffer(16);
    boost::system::error_code result = boost::asio::error::would_block;
    ReceivedData received;
    async_receive_with_fds(socket, buffer, 2, [&](boost::system::error_code ec, ReceivedData data) {
        result = ec;
        received = std::move(data);
    });
    context.run();
    ASSERT_FALSE(result) << result.message();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer.data()), received.size), "take");
    ASSERT_EQ(received.fds.size(), 2u);
    ASSERT_TRUE(peer.wait().success());

    EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + name("peer.memory")));
    SharedMemory shm = SharedMemory::map_fd(std::move(received.fds[0]));
    EXPECT_EQ(shm.size(), 4096u);
    EXPECT_EQ(c_string_at(shm, 0), "from the peer");
    EventFd event(std::move(received.fds[1]));
    EXPECT_EQ(event.try_consume(), 42u);
}

// (c) The peer blocks on one eventfd and answers on another, round after
// round; each value it answers is derived from the one it was woken with.
TEST_F(CrossProcess, EventfdWakeUpsBothWays) {
    EventFd ping;
    EventFd pong;
    SpawnOptions options;
    options.fds = {{ping.fd(), 3}, {pong.fd(), 4}};
    ChildProcess peer = ChildProcess::spawn(kPeer, {"eventfd-pingpong", "3", "4", "50"}, options);
    for (std::uint64_t round = 1; round <= 50; ++round) {
        ping.signal(round);
        EXPECT_EQ(pong.wait(), round + 1000);
    }
    EXPECT_TRUE(peer.wait().success());
}

// Eventfds handed over a socket rather than inherited behave the same.
TEST_F(CrossProcess, EventfdReceivedFromThePeerWakesItsOwner) {
    auto [here, there] = make_socket_pair();
    SpawnOptions options;
    options.fds = {{there.get(), 3}};
    ChildProcess peer =
        ChildProcess::spawn(kPeer, {"fd-give", "3", name("peer.memory"), "x"}, options);
    there.reset();
    std::vector<std::byte> buffer(8);
    ReceivedData received = receive_with_fds(here.get(), buffer, 2);
    ASSERT_EQ(received.fds.size(), 2u);
    EXPECT_TRUE(peer.wait().success());
    EventFd event(std::move(received.fds[1]));
    EXPECT_EQ(event.wait(), 42u);
}

// A peer sets up logging as every pvsim process does: its own file in the
// run directory, its name and pid on each line, the level from the
// environment it was given.
TEST_F(CrossProcess, PeerLogsToItsOwnFile) {
    SpawnOptions debug_env;
    debug_env.environment = std::vector<std::string>{"PVSIM_LOG=debug"};
    ChildProcess peer = ChildProcess::spawn(
        kPeer, {"log", run_.path().string(), "pvsim-peer", "-", "vbd 51712 connected"}, debug_env);
    const pid_t pid = peer.pid();
    ASSERT_TRUE(peer.wait().success());
    const std::string text = read_file(run_.log_file("pvsim-peer"));
    EXPECT_THAT(text, HasSubstr("[pvsim-peer] [pid " + std::to_string(pid) +
                                "] [info] info: vbd 51712 connected"));
    EXPECT_THAT(text, HasSubstr("[debug] debug: vbd 51712 connected"));

    // --log-level beats the environment.
    ChildProcess quiet = ChildProcess::spawn(
        kPeer, {"log", run_.path().string(), "pvsim-quiet", "info", "m"}, debug_env);
    ASSERT_TRUE(quiet.wait().success());
    EXPECT_THAT(read_file(run_.log_file("pvsim-quiet")), Not(HasSubstr("[debug]")));

    SpawnOptions bad_env;
    bad_env.environment = std::vector<std::string>{"PVSIM_LOG=loud"};
    ChildProcess bad =
        ChildProcess::spawn(kPeer, {"log", run_.path().string(), "pvsim-bad", "-", "m"}, bad_env);
    EXPECT_EQ(bad.wait().code, 2);
    EXPECT_FALSE(std::filesystem::exists(run_.log_file("pvsim-bad")));
}

// Objects left behind by processes that exited without removing them are
// all gone after remove_run_shm, and nothing of the run remains in /dev/shm.
TEST_F(CrossProcess, RemovingARunLeavesNothingBehind) {
    for (const char* what : {"dom0.memory", "dom1.memory", "dom1.grant-table"}) {
        ChildProcess peer = ChildProcess::spawn(kPeer, {"shm-leave", name(what), "8192"});
        ASSERT_TRUE(peer.wait().success()) << what;
    }
    SharedMemory own = SharedMemory::create(name("hypervisor.shared-info"), 4096);
    own.set_owner(false);
    ASSERT_EQ(list_run_shm(run_.shm_tag()).size(), 4u);
    EXPECT_EQ(remove_run_shm(run_.shm_tag()), 4u);
    EXPECT_THAT(list_run_shm(run_.shm_tag()), IsEmpty());
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
        EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr(run_.shm_tag())));
    }
}

}  // namespace cross_process_test
}  // namespace pvsim::os
