#include "tools/toolstack/guest_agent.hpp"

#include <stdexcept>
#include <system_error>
#include <thread>

#include "frontend/guest/agent_protocol.hpp"

namespace pvsim::tools::toolstack {
namespace {

os::JsonLineClient connect_agent(const RunDir& run, xen::DomId domid,
                                 std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string peer = "the agent of domain " + std::to_string(domid);
    for (;;) {
        try {
            return os::JsonLineClient(run.guest_agent_socket(domid), peer,
                                      frontend::guest::agent::kMaxAgentLine,
                                      frontend::guest::agent::kMaxAgentReply);
        } catch (const std::system_error& e) {
            if (std::chrono::steady_clock::now() >= deadline) {
                throw std::runtime_error(peer + " does not answer: " + e.what());
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace

GuestAgent::GuestAgent(const RunDir& run, xen::DomId domid, std::chrono::milliseconds timeout)
    : connection_(connect_agent(run, domid, timeout)) {}

nlohmann::json GuestAgent::request(const nlohmann::json& message) {
    connection_.send(message);
    nlohmann::json reply = connection_.receive();
    if (std::string error = os::reply_error(reply, connection_.peer()); !error.empty()) {
        throw std::runtime_error(error);
    }
    return reply;
}

nlohmann::json GuestAgent::stream(const nlohmann::json& message,
                                  const std::function<void(const nlohmann::json&)>& on_progress) {
    connection_.send(message);
    for (;;) {
        nlohmann::json reply = connection_.receive();
        if (auto progress = reply.find("progress"); progress != reply.end()) {
            if (on_progress) {
                on_progress(*progress);
            }
            continue;
        }
        (void)os::reply_error(reply, connection_.peer());  // checks "ok" is there
        return reply;
    }
}

}  // namespace pvsim::tools::toolstack
