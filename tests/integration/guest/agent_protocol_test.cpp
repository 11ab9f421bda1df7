// pvsim-guest's agent socket itself (frontend/guest/agent_protocol.hpp): it
// answers before xenstore is reachable, refuses bad lines and bad requests
// with an error (closing the connection for a line that is not a JSON
// object or is too long), names an unknown device, and on SIGTERM closes
// its devices in order, removes its socket and exits 0.
#include <signal.h>

#include <string>

#include "frontend/guest/agent_protocol.hpp"
#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
namespace {

using nlohmann::json;

class AgentProtocolTest : public GuestFixture {};

TEST_F(AgentProtocolTest, PingAnswersBeforeAndAfterXenstoreIsReachable) {
    const xen::DomId domid = create_guest("early");
    AgentClient client = agent(domid);
    // Not introduced yet: xenstored does not serve its ring.
    const json before = client.request({{"op", "ping"}});
    EXPECT_EQ(before.value("ok", false), true) << before.dump();
    EXPECT_EQ(before.value("domid", -1), domid);
    EXPECT_EQ(before.value("xenstore", true), false);

    introduce_guest(domid);
    EXPECT_TRUE(eventually([&] {
        return client.request({{"op", "ping"}}).value("xenstore", false);
    })) << guest_log(domid);
    const json devices = client.request({{"op", "devices"}});
    EXPECT_EQ(devices.value("ok", false), true);
    EXPECT_EQ(devices.at("devices"), json::array());
}

TEST_F(AgentProtocolTest, LinesThatAreNotJsonObjectsGetAnErrorAndTheConnectionCloses) {
    const xen::DomId domid = create_guest("lines");
    for (const std::string line : {"not json", "[1, 2, 3]", "\"ping\"", "{\"op\": "}) {
        AgentClient client = agent(domid);
        client.send_line(line);
        const auto reply = client.read();
        ASSERT_TRUE(reply) << line;
        EXPECT_EQ(reply->value("ok", true), false) << line;
        EXPECT_FALSE(reply->value("error", "").empty()) << line;
        EXPECT_FALSE(client.read()) << "still open after " << line;
    }

    AgentClient client = agent(domid);
    client.send_line(std::string(frontend::guest::agent::kMaxAgentLine + 10, 'x'));
    const auto reply = client.read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->value("ok", true), false);
    EXPECT_NE(reply->value("error", "").find("longer than 65536 bytes"), std::string::npos)
        << reply->dump();
    EXPECT_FALSE(client.read());

    // The agent still serves everyone else.
    EXPECT_EQ(agent(domid).request({{"op", "ping"}}).value("ok", false), true);
}

TEST_F(AgentProtocolTest, BadRequestsGetAnErrorAndTheConnectionStays) {
    const xen::DomId domid = create_guest("requests");
    AgentClient client = agent(domid);
    const auto error_of = [&](const json& request) {
        const json reply = client.request(request);
        EXPECT_EQ(reply.value("ok", true), false) << request.dump();
        return reply.value("error", std::string());
    };
    EXPECT_NE(error_of({{"devid", 1}}).find("\"op\""), std::string::npos);
    EXPECT_NE(error_of({{"op", "reboot"}}).find("unknown op \"reboot\""), std::string::npos);
    EXPECT_NE(error_of({{"op", "io"}}).find("devid"), std::string::npos);
    EXPECT_NE(error_of({{"op", "io"}, {"devid", "xvda"}}).find("devid"), std::string::npos);
    EXPECT_NE(error_of({{"op", "io"}, {"devid", kXvda}, {"job", {{"bs", "4k"}}}}).find("job.bs"),
              std::string::npos);
    EXPECT_NE(
        error_of({{"op", "io"}, {"devid", kXvda}, {"job", {{"rw", "sideways"}}}}).find("job.rw"),
        std::string::npos);
    EXPECT_NE(error_of({{"op", "io"}, {"devid", kXvda}, {"job", {{"verify", "crc32c"}}}})
                  .find("job.verify"),
              std::string::npos);
    EXPECT_NE(error_of({{"op", "io"}, {"devid", kXvda}, {"job", {{"blocksize", 4096}}}})
                  .find("job.blocksize: unknown field"),
              std::string::npos);
    EXPECT_EQ(client.request({{"op", "ping"}}).value("ok", false), true);
}

TEST_F(AgentProtocolTest, UnknownDevidIsNamed) {
    const xen::DomId domid = create_guest("nodev");
    introduce_guest(domid);
    AgentClient client = agent(domid);
    const json io = client.request({{"op", "io"}, {"devid", 51728}, {"job", {{"rw", "read"}}}});
    EXPECT_EQ(io.value("ok", true), false);
    EXPECT_EQ(io.value("error", ""), "no device 51728 (xvdb?)");
    const json close = client.request({{"op", "close"}, {"devid", 51728}});
    EXPECT_EQ(close.value("error", ""), "no device 51728 (xvdb?)");
    const json wait = client.request({{"op", "wait-device"}, {"devid", 51728}, {"timeout_ms", 50}});
    EXPECT_EQ(wait.value("ok", true), false);
    EXPECT_NE(wait.value("error", "").find("no device 51728 (xvdb?)"), std::string::npos)
        << wait.dump();
    const json forget = client.request({{"op", "forget"}, {"devid", 51728}});
    EXPECT_EQ(forget.value("ok", false), true);
    EXPECT_EQ(forget.value("forgot", true), false);
}

TEST_F(AgentProtocolTest, SigtermClosesDevicesInOrderRemovesTheSocketAndExitsZero) {
    const AttachedGuest guest = guest_with_disk("term");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);
    const auto pid = hv_.control().info(guest.domid).at("pid").get<pid_t>();
    ASSERT_GT(pid, 0);

    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    const std::string exited = "domain " + std::to_string(guest.domid) + ": process " +
                               std::to_string(pid) + " exited with status 0";
    EXPECT_TRUE(eventually([&] { return hypervisor_log().find(exited) != std::string::npos; }))
        << hypervisor_log() << "\n"
        << guest_log(guest.domid);
    EXPECT_FALSE(std::filesystem::exists(agent_socket(guest.domid)));
    // Its blkfront closed the orderly way before the process went: Closing,
    // the backend followed to Closed, then Closed.
    expect_state(guest.paths.backend + "/state", xen::XenbusState::closed);
    const std::string log = guest_log(guest.domid);
    EXPECT_NE(log.find("frontend Closing"), std::string::npos) << log;
    EXPECT_NE(log.find("frontend Closed"), std::string::npos) << log;
    EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

}  // namespace
}  // namespace pvsim::test
