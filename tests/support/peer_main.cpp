// pvsim_test_peer: the other process of the cross-process tests. Each mode
// does one thing with what the test hands it (a shared-memory name, inherited
// fds, a socket carrying fds) so that the test can check the effect across a
// real process boundary.
//
// Exit status: 0 done, 1 bad usage, 2 an operation failed (reason on
// stderr), 3 a check failed (what differed on stderr).

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>

#include "common/log.hpp"
#include "common/os/environment.hpp"
#include "common/os/event_fd.hpp"
#include "common/os/shared_memory.hpp"
#include "common/os/unique_fd.hpp"
#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"

namespace {

using pvsim::os::EventFd;
using pvsim::os::SharedMemory;
using pvsim::os::UniqueFd;

constexpr int kOk = 0;
constexpr int kUsage = 1;
constexpr int kFailed = 2;
constexpr int kCheckFailed = 3;

// Where the peer writes its answer in a shared-memory object the test made.
constexpr std::size_t kReplyOffset = 4096;

using Args = std::vector<std::string>;

int check(bool ok, const std::string& what) {
    if (!ok) {
        std::cerr << "pvsim_test_peer: check failed: " << what << "\n";
        return kCheckFailed;
    }
    return kOk;
}

int to_int(const std::string& text) {
    return std::stoi(text);
}

std::string read_string(const SharedMemory& shm, std::size_t offset) {
    const char* start = reinterpret_cast<const char*>(shm.data() + offset);
    return std::string(start, strnlen(start, shm.size() - offset));
}

void write_string(const SharedMemory& shm, std::size_t offset, std::string_view text) {
    std::memcpy(shm.data() + offset, text.data(), text.size());
    shm.data()[offset + text.size()] = std::byte{0};
}

std::span<const std::byte> as_bytes(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

// shm-exchange NAME EXPECT REPLY: the object NAME holds EXPECT at offset 0;
// write REPLY at kReplyOffset.
int shm_exchange(const Args& args) {
    SharedMemory shm = SharedMemory::open(args.at(0));
    if (const std::string seen = read_string(shm, 0); seen != args.at(1)) {
        return check(false,
                     "shared memory holds \"" + seen + "\", expected \"" + args.at(1) + "\"");
    }
    write_string(shm, kReplyOffset, args.at(2));
    return kOk;
}

// shm-leave NAME SIZE: create an object and exit without removing it, as a
// crashed process would.
int shm_leave(const Args& args) {
    SharedMemory shm = SharedMemory::create(args.at(0), std::stoul(args.at(1)));
    shm.set_owner(false);
    return kOk;
}

// fd-use SOCKET_FD: receive "pipe,shm,eventfd" with those three fds; write
// the text that follows in the message to the pipe, write it reversed into
// the shared memory, and signal the eventfd with its length.
int fd_use(const Args& args) {
    boost::asio::io_context context;
    auto socket =
        pvsim::os::adopt_socket(context, pvsim::os::adopt_inherited_fd(to_int(args.at(0))));
    std::vector<std::byte> buffer(256);
    pvsim::os::ReceivedData received = pvsim::os::receive_with_fds(socket, buffer, 3);
    const std::string text(reinterpret_cast<const char*>(buffer.data()), received.size);
    if (int rc = check(received.fds.size() == 3,
                       "expected 3 fds, got " + std::to_string(received.fds.size()));
        rc != kOk) {
        return rc;
    }
    UniqueFd pipe = std::move(received.fds[0]);
    if (::write(pipe.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        pvsim::os::throw_system_error("write pipe");
    }
    SharedMemory shm = SharedMemory::map_fd(std::move(received.fds[1]));
    write_string(shm, 0, std::string(text.rbegin(), text.rend()));
    EventFd done(std::move(received.fds[2]));
    done.signal(text.size());
    return kOk;
}

// fd-give SOCKET_FD SHM_NAME TEXT: create a shared-memory object holding TEXT
// and an eventfd counting 42, send both fds over the socket with the message
// "take", then exit, removing the object's name: the test maps it by fd.
int fd_give(const Args& args) {
    const UniqueFd socket = pvsim::os::adopt_inherited_fd(to_int(args.at(0)));
    SharedMemory shm = SharedMemory::create(args.at(1), 4096);
    write_string(shm, 0, args.at(2));
    EventFd event;
    event.signal(42);
    const int fds[] = {shm.fd(), event.fd()};
    pvsim::os::send_with_fds(socket.get(), as_bytes("take"), fds);
    return kOk;
}

// eventfd-pingpong WAIT_FD SIGNAL_FD ROUNDS: ROUNDS times, block until
// WAIT_FD is signalled, then signal SIGNAL_FD with the value read + 1000.
int eventfd_pingpong(const Args& args) {
    EventFd ping(pvsim::os::adopt_inherited_fd(to_int(args.at(0))));
    EventFd pong(pvsim::os::adopt_inherited_fd(to_int(args.at(1))));
    const int rounds = to_int(args.at(2));
    for (int i = 0; i < rounds; ++i) {
        const std::uint64_t value = ping.wait();
        pong.signal(value + 1000);
    }
    return kOk;
}

// log RUN_DIR PROCESS_NAME LEVEL MESSAGE: set up logging as a pvsim process
// does (LEVEL "-" means no --log-level), log MESSAGE at info and at debug.
int log_lines(const Args& args) {
    const pvsim::RunDir run = pvsim::RunDir::open(args.at(0));
    std::optional<std::string_view> level;
    if (args.at(2) != "-") {
        level = args.at(2);
    }
    pvsim::setup_logging(run, args.at(1), level, pvsim::os::Environment::process());
    spdlog::info("info: {}", args.at(3));
    spdlog::debug("debug: {}", args.at(3));
    return kOk;
}

// check-fds FD...: the fds open above stderr are exactly those given.
int check_fds(const Args& args) {
    std::set<int> expected;
    for (const std::string& arg : args) {
        expected.insert(to_int(arg));
    }
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) {
        pvsim::os::throw_system_error("opendir /proc/self/fd");
    }
    std::set<int> open;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        const int fd = std::stoi(entry->d_name);
        if (fd > STDERR_FILENO && fd != ::dirfd(dir)) {
            open.insert(fd);
        }
    }
    ::closedir(dir);
    std::string seen;
    for (const int fd : open) {
        seen += " " + std::to_string(fd);
    }
    return check(open == expected, "open fds:" + seen);
}

// exit CODE
int exit_with(const Args& args) {
    return to_int(args.at(0));
}

// pause: wait for a signal.
int pause_forever(const Args&) {
    for (;;) {
        ::pause();
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::map<std::string_view, std::function<int(const Args&)>> modes = {
        {"shm-exchange", shm_exchange},
        {"shm-leave", shm_leave},
        {"fd-use", fd_use},
        {"fd-give", fd_give},
        {"eventfd-pingpong", eventfd_pingpong},
        {"log", log_lines},
        {"check-fds", check_fds},
        {"exit", exit_with},
        {"pause", pause_forever},
    };
    if (argc < 2 || !modes.contains(argv[1])) {
        std::cerr << "usage: pvsim_test_peer MODE ARGS... (modes:";
        for (const auto& [name, mode] : modes) {
            std::cerr << " " << name;
        }
        std::cerr << ")\n";
        return kUsage;
    }
    const Args args(argv + 2, argv + argc);
    try {
        return modes.at(argv[1])(args);
    } catch (const std::out_of_range& e) {
        std::cerr << "pvsim_test_peer " << argv[1] << ": missing or bad argument (" << e.what()
                  << ")\n";
        return kUsage;
    } catch (const std::exception& e) {
        std::cerr << "pvsim_test_peer " << argv[1] << ": " << e.what() << "\n";
        return kFailed;
    }
}
