#include "hypervisor/client/control_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/os/unix_socket.hpp"
#include "common/run_dir.hpp"
#include "hypervisor/protocol/control.hpp"

namespace pvsim::hypervisor {
namespace {

os::UniqueFd connect_to(const std::filesystem::path& socket_path) {
    check_socket_path(socket_path);
    os::UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        os::throw_system_error("socket");
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
        os::throw_system_error("connect " + path);
    }
    return socket;
}

}  // namespace

ControlClient::ControlClient(const std::filesystem::path& socket_path)
    : socket_(connect_to(socket_path)) {}

nlohmann::json ControlClient::request(const nlohmann::json& message,
                                      std::vector<os::UniqueFd>* fds) {
    const std::string line = message.dump() + "\n";
    if (line.size() > wire::kMaxControlLine) {
        throw std::invalid_argument("control request of " + std::to_string(line.size()) +
                                    " bytes, at most " + std::to_string(wire::kMaxControlLine));
    }
    os::send_with_fds(socket_.get(), std::as_bytes(std::span(line.data(), line.size())));

    // The reply's fds arrive with its first bytes, so everything received
    // up to the newline belongs to this reply.
    std::vector<os::UniqueFd> received_fds;
    std::size_t newline;
    while ((newline = buffer_.find('\n')) == std::string::npos) {
        if (buffer_.size() > wire::kMaxControlLine) {
            throw std::runtime_error("control reply longer than " +
                                     std::to_string(wire::kMaxControlLine) + " bytes");
        }
        std::byte chunk[4096];
        os::ReceivedData received =
            os::receive_with_fds(socket_.get(), chunk, os::kMaxFdsPerMessage);
        if (received.size == 0) {
            throw std::system_error(ECONNRESET, std::system_category(),
                                    "control connection closed by pvsim-hypervisor");
        }
        buffer_.append(reinterpret_cast<const char*>(chunk), received.size);
        for (auto& fd : received.fds) {
            received_fds.push_back(std::move(fd));
        }
    }
    const std::string reply_line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);

    nlohmann::json reply = nlohmann::json::parse(reply_line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
        throw std::runtime_error("control reply is not a JSON object: " + reply_line);
    }
    const auto ok = reply.find("ok");
    if (ok == reply.end() || !ok->is_boolean()) {
        throw std::runtime_error("control reply without \"ok\": " + reply_line);
    }
    if (!ok->get<bool>()) {
        const auto error = reply.find("error");
        throw ControlError(error != reply.end() && error->is_string()
                               ? error->get<std::string>()
                               : "pvsim-hypervisor refused " + message.value("op", "a request"));
    }
    if (fds != nullptr) {
        *fds = std::move(received_fds);
    }
    return reply;
}

CreatedDomain ControlClient::create(const CreateDomain& request_fields) {
    nlohmann::json args = nlohmann::json::array();
    for (const auto& arg : request_fields.args) {
        args.push_back(arg);
    }
    nlohmann::json env = nlohmann::json::object();
    for (const auto& [key, value] : request_fields.env) {
        env[key] = value;
    }
    const nlohmann::json reply = request({{"op", "create"},
                                          {"name", request_fields.name},
                                          {"memory", request_fields.memory_bytes},
                                          {"program", request_fields.program.string()},
                                          {"args", args},
                                          {"env", env}});
    return {reply.at("domid").get<xen::DomId>(), reply.at("store_gfn").get<std::uint64_t>(),
            reply.at("store_port").get<xen::EvtchnPort>()};
}

std::string ControlClient::destroy(xen::DomId domid) {
    return request({{"op", "destroy"}, {"domid", domid}}).at("state").get<std::string>();
}

std::string ControlClient::destroy(const std::string& name) {
    return request({{"op", "destroy"}, {"name", name}}).at("state").get<std::string>();
}

nlohmann::json ControlClient::list() {
    return request({{"op", "list"}}).at("domains");
}

nlohmann::json ControlClient::info(xen::DomId domid) {
    return request({{"op", "info"}, {"domid", domid}}).at("domain");
}

nlohmann::json ControlClient::stats() {
    return request({{"op", "stats"}}).at("domains");
}

os::UniqueFd ControlClient::connect_dom0() {
    std::vector<os::UniqueFd> fds;
    (void)request({{"op", "connect"}}, &fds);
    if (fds.size() != 1) {
        throw std::runtime_error("control op connect: expected one fd with the reply, got " +
                                 std::to_string(fds.size()));
    }
    return std::move(fds[0]);
}

void ControlClient::shutdown() {
    (void)request({{"op", "shutdown"}});
}

}  // namespace pvsim::hypervisor
