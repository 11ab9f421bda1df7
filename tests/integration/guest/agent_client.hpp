// The CLI's side of the guest agent's socket (frontend/guest/agent_protocol.hpp)
// as a test speaks it: one JSON object per line each way, with raw lines for
// what a well-behaved client would never send, and a bound on every wait so
// that a guest that hangs fails the test instead of blocking it.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "common/os/unique_fd.hpp"

namespace pvsim::test {

class AgentClient {
  public:
    // Connects to the agent at `socket`; throws std::system_error when
    // nothing listens there.
    explicit AgentClient(const std::filesystem::path& socket)
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (!fd_) {
            os::throw_system_error("socket");
        }
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, socket.c_str(), sizeof(address.sun_path) - 1);
        if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) !=
            0) {
            os::throw_system_error("connect " + socket.string());
        }
    }

    void send_line(const std::string& line) {
        const std::string out = line + "\n";
        std::size_t done = 0;
        while (done < out.size()) {
            const ssize_t n = ::send(fd_.get(), out.data() + done, out.size() - done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                os::throw_system_error("send to the agent");
            }
            done += static_cast<std::size_t>(n);
        }
    }
    void send(const nlohmann::json& request) { send_line(request.dump()); }

    // The next line as JSON; nullopt when the agent closed the connection.
    // Throws when nothing comes within `limit`.
    std::optional<nlohmann::json> read(std::chrono::milliseconds limit = std::chrono::seconds(60)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            const std::size_t end = buffer_.find('\n');
            if (end != std::string::npos) {
                const std::string line = buffer_.substr(0, end);
                buffer_.erase(0, end + 1);
                return nlohmann::json::parse(line);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd entry{fd_.get(), POLLIN, 0};
            const int ready = ::poll(&entry, 1, static_cast<int>(std::max<long>(left.count(), 0)));
            if (ready < 0 && errno == EINTR) {
                continue;
            }
            if (ready <= 0) {
                throw std::runtime_error("no line from the agent within " +
                                         std::to_string(limit.count()) + " ms");
            }
            char chunk[4096];
            const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == ECONNRESET) {
                    return std::nullopt;
                }
                os::throw_system_error("recv from the agent");
            }
            if (n == 0) {
                return std::nullopt;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    // send(), then the reply (skipping nothing: progress lines are the
    // caller's to read). Throws when the connection closes instead.
    nlohmann::json request(const nlohmann::json& request,
                           std::chrono::milliseconds limit = std::chrono::seconds(60)) {
        send(request);
        auto reply = read(limit);
        if (!reply) {
            throw std::runtime_error("the agent closed the connection after " + request.dump());
        }
        return *reply;
    }

    void close() { fd_.reset(); }

  private:
    os::UniqueFd fd_;
    std::string buffer_;
};

}  // namespace pvsim::test
