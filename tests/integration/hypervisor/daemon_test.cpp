// The pvsim-hypervisor binary itself: it starts and serves, refuses a second
// instance on the same run directory, answers bad control lines and broken
// hypercall framing without falling over, and stops on SIGTERM or the
// "shutdown" op leaving no shared-memory object or socket behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/os/shared_memory.hpp"
#include "common/os/unix_socket.hpp"
#include "hypervisor/protocol/control.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "tests/support/hypervisor_process.hpp"

namespace pvsim::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace wire = hypervisor::wire;

// A blocking line-oriented client of the control socket.
class ControlLine {
  public:
    explicit ControlLine(const std::filesystem::path& path)
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) !=
            0) {
            os::throw_system_error("connect " + path.string());
        }
    }
    void send(const std::string& text) {
        os::send_with_fds(fd_.get(), std::as_bytes(std::span(text.data(), text.size())));
    }
    // The next line, or "" when the hypervisor closed the connection.
    std::string receive() {
        std::string line;
        char c = 0;
        for (;;) {
            const ssize_t n = ::read(fd_.get(), &c, 1);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return "";
            }
            if (c == '\n') {
                return line;
            }
            line += c;
        }
    }
    json request(const std::string& text) {
        send(text + "\n");
        return json::parse(receive());
    }

  private:
    os::UniqueFd fd_;
};

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(Daemon, RefusesASecondInstanceOnTheSameRunDirectory) {
    HypervisorProcess hv;
    const auto err_path = hv.temp_path() / "second.err";
    os::UniqueFd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(err);
    os::SpawnOptions options;
    options.fds = {{err.get(), STDERR_FILENO}};
    auto second = os::ChildProcess::spawn(PVSIM_HYPERVISOR,
                                          {"--run-dir", hv.run_dir().path().string()}, options);
    EXPECT_EQ(second.wait().code, 1);
    EXPECT_THAT(read_file(err_path), HasSubstr("another instance is already running in " +
                                               hv.run_dir().path().string()));
    // The first one is untouched and still serves, its objects in place.
    EXPECT_EQ(hv.control().list().size(), 1u);
    EXPECT_EQ(os::list_run_shm(hv.run_dir().shm_tag()).size(), 4u);
}

TEST(Daemon, StopsOnSigtermLeavingNothingBehind) {
    HypervisorProcess hv;
    const std::string tag = hv.run_dir().shm_tag();
    EXPECT_EQ(os::list_run_shm(tag),
              (std::vector<std::string>{
                  "pvsim." + tag + ".dom0.active-grants", "pvsim." + tag + ".dom0.grant-table",
                  "pvsim." + tag + ".dom0.memory", "pvsim." + tag + ".dom0.shared-info"}));
    EXPECT_TRUE(std::filesystem::exists(hv.run_dir().hypervisor_socket()));
    EXPECT_EQ(hv.stop().describe(), "exited with status 0");
    EXPECT_TRUE(os::list_run_shm(tag).empty());
    EXPECT_FALSE(std::filesystem::exists(hv.run_dir().hypervisor_socket()));
}

TEST(Daemon, ClearsWhatACrashedInstanceLeftAndStopsOnTheShutdownOp) {
    TempDir temp;
    const RunDir run_dir = RunDir::open(temp.path() / "run");
    // Left behind: a socket file nobody listens on and an object of the run.
    {
        boost::asio::io_context io;
        boost::asio::local::stream_protocol::acceptor stale(
            io,
            boost::asio::local::stream_protocol::endpoint(run_dir.hypervisor_socket().string()));
    }
    auto leftover = os::SharedMemory::create(os::shm_name(run_dir.shm_tag(), "dom7.memory"), 4096);
    leftover.set_owner(false);
    ASSERT_TRUE(std::filesystem::exists(run_dir.hypervisor_socket()));

    auto process =
        os::ChildProcess::spawn(PVSIM_HYPERVISOR, {"--run-dir", run_dir.path().string()});
    ASSERT_TRUE(eventually([&] { return os::list_run_shm(run_dir.shm_tag()).size() == 4; }));
    std::unique_ptr<ControlLine> control;
    ASSERT_TRUE(eventually([&] {
        try {
            control = std::make_unique<ControlLine>(run_dir.hypervisor_socket());
            return true;
        } catch (const std::system_error&) {
            return false;
        }
    }));
    const auto names = os::list_run_shm(run_dir.shm_tag());
    EXPECT_EQ(std::count(names.begin(), names.end(), "pvsim." + run_dir.shm_tag() + ".dom7.memory"),
              0);
    EXPECT_EQ(control->request(R"({"op":"shutdown"})"), json({{"ok", true}}));
    EXPECT_EQ(process.wait().describe(), "exited with status 0");
    EXPECT_TRUE(os::list_run_shm(run_dir.shm_tag()).empty());
}

TEST(Daemon, BadControlLinesGetAnErrorAndOthersAreStillServed) {
    HypervisorProcess hv;
    ControlLine first(hv.run_dir().hypervisor_socket());
    ControlLine second(hv.run_dir().hypervisor_socket());
    json reply = first.request(R"({"op":"frobnicate"})");
    EXPECT_EQ(reply["ok"], false);
    EXPECT_EQ(reply["error"], "unknown op 'frobnicate'");
    reply = first.request(R"({"op":"destroy","domid":0})");
    EXPECT_EQ(reply["ok"], false);
    EXPECT_THAT(reply["error"].get<std::string>(), HasSubstr("domain 0"));
    reply = first.request(R"({"op":"info","name":"nobody"})");
    EXPECT_THAT(reply["error"].get<std::string>(), HasSubstr("'nobody'"));
    reply = first.request(R"({"op":"info","domid":0})");
    EXPECT_EQ(reply["domain"]["name"], "Domain-0");
    EXPECT_EQ(reply["domain"]["pid"], 0);

    // Not JSON: an error, then the connection closes.
    first.send("this is not json\n");
    reply = json::parse(first.receive());
    EXPECT_EQ(reply["ok"], false);
    EXPECT_THAT(reply["error"].get<std::string>(), HasSubstr("not JSON"));
    EXPECT_EQ(first.receive(), "");
    // An over-long line: the same.
    second.send(std::string(wire::kMaxControlLine + 10, 'x'));
    reply = json::parse(second.receive());
    EXPECT_THAT(reply["error"].get<std::string>(), HasSubstr("longer than"));
    EXPECT_EQ(second.receive(), "");

    const json stats = hv.control().stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0]["counters"]["hypercalls"]["grant_map"], 0);
    EXPECT_EQ(stats[0]["counters"]["events_sent_fast"], 0);
}

// A dom0 hypercall connection spoken to byte by byte.
class RawHypercalls {
  public:
    explicit RawHypercalls(const HypervisorProcess& hv) : socket_(hv.control().connect_dom0()) {
        const auto welcome = receive();
        EXPECT_EQ(welcome.header.op, static_cast<std::uint32_t>(wire::Op::welcome));
        EXPECT_EQ(welcome.fds, wire::kWelcomeFds);
    }
    void send(std::uint32_t op, std::uint32_t length, const std::vector<std::byte>& payload) {
        std::vector<std::byte> bytes(sizeof(wire::RequestHeader));
        const wire::RequestHeader header{op, length};
        std::memcpy(bytes.data(), &header, sizeof header);
        bytes.insert(bytes.end(), payload.begin(), payload.end());
        os::send_with_fds(socket_.get(), bytes);
    }
    struct Reply {
        wire::ReplyHeader header{};
        std::size_t fds = 0;
        bool closed = false;
    };
    Reply receive() {
        Reply reply;
        std::vector<std::byte> buffer(sizeof reply.header);
        std::size_t done = 0;
        while (done < buffer.size()) {
            auto got = os::receive_with_fds(socket_.get(), std::span(buffer).subspan(done),
                                            os::kMaxFdsPerMessage);
            if (got.size == 0) {
                reply.closed = true;
                return reply;
            }
            reply.fds += got.fds.size();
            done += got.size;
        }
        std::memcpy(&reply.header, buffer.data(), sizeof reply.header);
        std::vector<std::byte> payload(reply.header.length);
        done = 0;
        while (done < payload.size()) {
            auto got = os::receive_with_fds(socket_.get(), std::span(payload).subspan(done), 0);
            if (got.size == 0) {
                reply.closed = true;
                return reply;
            }
            done += got.size;
        }
        return reply;
    }

  private:
    os::UniqueFd socket_;
};

TEST(Daemon, BrokenFramingClosesOnlyThatConnection) {
    HypervisorProcess hv;
    RawHypercalls good(hv);
    {
        RawHypercalls oversized(hv);
        oversized.send(static_cast<std::uint32_t>(wire::Op::grant_map), wire::kMaxPayload + 1, {});
        EXPECT_TRUE(oversized.receive().closed);
    }
    {
        RawHypercalls truncated(hv);
        truncated.send(static_cast<std::uint32_t>(wire::Op::grant_map), 200,
                       std::vector<std::byte>(20));
    }
    // Well framed but wrong: an answer, and the connection lives on.
    good.send(999, 0, {});
    EXPECT_EQ(good.receive().header.result, -ENOSYS);
    good.send(static_cast<std::uint32_t>(wire::Op::evtchn_send), 3, std::vector<std::byte>(3));
    EXPECT_EQ(good.receive().header.result, -EINVAL);
    std::vector<std::byte> info(sizeof(wire::DomainInfoRequest));
    const wire::DomainInfoRequest request{xen::kDomidSelf, {}};
    std::memcpy(info.data(), &request, sizeof request);
    good.send(static_cast<std::uint32_t>(wire::Op::domain_info),
              static_cast<std::uint32_t>(info.size()), info);
    const auto reply = good.receive();
    EXPECT_EQ(reply.header.op, static_cast<std::uint32_t>(wire::Op::domain_info));
    EXPECT_EQ(reply.header.result, 0);
    EXPECT_EQ(reply.header.length, sizeof(wire::DomainInfoReply));
    const json stats = hv.control().stats();
    EXPECT_EQ(stats[0]["counters"]["hypercalls"]["evtchn_send"], 1);
    EXPECT_EQ(stats[0]["counters"]["hypercalls"]["domain_info"], 1);
}

}  // namespace
}  // namespace pvsim::test
