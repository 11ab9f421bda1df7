#include "hypervisor/client/control_client.hpp"

#include <stdexcept>

#include "hypervisor/protocol/control.hpp"

namespace pvsim::hypervisor {
ControlClient::ControlClient(const std::filesystem::path& socket_path)
    : connection_(socket_path, "pvsim-hypervisor", wire::kMaxControlLine, wire::kMaxControlLine) {}

nlohmann::json ControlClient::request(const nlohmann::json& message,
                                      std::vector<os::UniqueFd>* fds) {
    connection_.send(message);
    std::vector<os::UniqueFd> received_fds;
    nlohmann::json reply = connection_.receive(&received_fds);
    if (std::string error = os::reply_error(reply, connection_.peer()); !error.empty()) {
        throw ControlError(error);
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
    nlohmann::json create = {{"op", "create"},
                             {"name", request_fields.name},
                             {"memory", request_fields.memory_bytes},
                             {"program", request_fields.program.string()},
                             {"args", args},
                             {"env", env}};
    if (request_fields.cpus) {
        create["cpus"] = *request_fields.cpus;
    }
    const nlohmann::json reply = request(create);
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

os::UniqueFd ControlClient::connect_dom0(bool xenstored) {
    std::vector<os::UniqueFd> fds;
    nlohmann::json message{{"op", "connect"}};
    if (xenstored) {
        message["xenstored"] = true;
    }
    (void)request(message, &fds);
    if (fds.size() != 1) {
        throw std::runtime_error("control op connect: expected one fd with the reply, got " +
                                 std::to_string(fds.size()));
    }
    return std::move(fds[0]);
}

void ControlClient::release_xenstored() {
    (void)request({{"op", "release-xenstored"}});
}

void ControlClient::shutdown() {
    (void)request({{"op", "shutdown"}});
}

}  // namespace pvsim::hypervisor
