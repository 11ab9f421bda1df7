#include "common/os/json_line_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <stdexcept>
#include <system_error>

#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"

namespace pvsim::os {
namespace {

UniqueFd connect_to(const std::filesystem::path& socket_path) {
    check_socket_path(socket_path);
    UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        throw_system_error("socket");
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = socket_path.string();
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int rc;
    while ((rc = ::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address),
                           sizeof address)) < 0 &&
           errno == EINTR) {
    }
    if (rc < 0) {
        throw_system_error("connect " + path);
    }
    return socket;
}

}  // namespace

JsonLineClient::JsonLineClient(const std::filesystem::path& socket_path, std::string peer,
                               std::size_t max_request, std::size_t max_reply)
    : socket_(connect_to(socket_path)),
      peer_(std::move(peer)),
      max_request_(max_request),
      max_reply_(max_reply) {}

void JsonLineClient::send(const nlohmann::json& message) {
    const std::string line = message.dump() + "\n";
    if (line.size() > max_request_) {
        throw std::invalid_argument("request to " + peer_ + " of " + std::to_string(line.size()) +
                                    " bytes, at most " + std::to_string(max_request_));
    }
    send_with_fds(socket_.get(), std::as_bytes(std::span(line.data(), line.size())));
}

nlohmann::json JsonLineClient::receive(std::vector<UniqueFd>* fds) {
    // A reply's fds arrive with its first bytes, so everything received up
    // to the newline belongs to this line.
    std::size_t newline;
    while ((newline = buffer_.find('\n')) == std::string::npos) {
        if (buffer_.size() > max_reply_) {
            throw std::runtime_error("reply from " + peer_ + " longer than " +
                                     std::to_string(max_reply_) + " bytes");
        }
        std::byte chunk[4096];
        ReceivedData received = receive_with_fds(socket_.get(), chunk, kMaxFdsPerMessage);
        if (received.size == 0) {
            throw std::system_error(ECONNRESET, std::system_category(),
                                    "connection closed by " + peer_);
        }
        buffer_.append(reinterpret_cast<const char*>(chunk), received.size);
        for (auto& fd : received.fds) {
            if (fds != nullptr) {
                fds->push_back(std::move(fd));
            }
        }
    }
    const std::string line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);
    nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
        throw std::runtime_error("reply from " + peer_ + " is not a JSON object: " + line);
    }
    return reply;
}

std::string reply_error(const nlohmann::json& reply, const std::string& peer) {
    const auto ok = reply.find("ok");
    if (ok == reply.end() || !ok->is_boolean()) {
        throw std::runtime_error("reply from " + peer + " without \"ok\": " + reply.dump());
    }
    if (ok->get<bool>()) {
        return {};
    }
    const auto error = reply.find("error");
    return error != reply.end() && error->is_string() && !error->get<std::string>().empty()
               ? error->get<std::string>()
               : peer + " refused the request";
}

}  // namespace pvsim::os
