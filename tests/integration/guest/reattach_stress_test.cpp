// A vbd detached and attached again back to back, over and over, while
// another guest's disk is busy: the toolstack removes the backend
// directory and writes it afresh within moments, so pvsim-backend often
// handles the removal only once the new directory is there. Every new
// directory must be probed (Linux probes a directory whose state is
// Initialising, xenbus_probe_node), so every attach reaches Connected, and
// the other guest's verified I/O never sees a wrong block.
//
// PVSIM_REATTACH_CYCLES sets the number of cycles (25 unless set); `make
// stress` runs 500.
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
namespace {

using nlohmann::json;
using xen::XenbusState;

constexpr unsigned kDefaultCycles = 25;

unsigned cycles() {
    const char* text = std::getenv("PVSIM_REATTACH_CYCLES");
    if (text == nullptr || *text == '\0') {
        return kDefaultCycles;
    }
    return static_cast<unsigned>(std::stoul(text));
}

const json kBusyVerify = {{"name", "busy"}, {"rw", "randrw"},  {"bs", 4096},
                          {"iodepth", 8},   {"size", 1 << 20}, {"io_size", 1 << 20},
                          {"seed", 0xb0b},  {"verify", true}};

class ReattachStressTest : public GuestFixture {};

TEST_F(ReattachStressTest, EveryBackToBackReattachOfOneVdevConnects) {
    const AttachedGuest busy = guest_with_disk("busy");
    const AttachedGuest cycled = guest_with_disk("cycled");
    {
        AgentClient client = agent(busy.domid);
        wait_device(client, busy.domid, kXvda);
    }
    expect_state(cycled.paths.backend + "/state", XenbusState::connected);

    std::atomic<bool> done = false;
    std::atomic<unsigned> busy_runs = 0;
    std::thread io_thread([&] {
        AgentClient client = agent(busy.domid);
        while (!done) {
            const IoReply out = io(client, kXvda, kBusyVerify);
            if (out.reply.value("ok", false) != true) {
                ADD_FAILURE() << "verified I/O of the busy guest failed: " << out.reply.dump()
                              << "\n"
                              << guest_log(busy.domid);
                return;
            }
            ++busy_runs;
        }
    });

    const unsigned total = cycles();
    unsigned connected = 0;
    for (unsigned cycle = 0; cycle < total; ++cycle) {
        tools::toolstack::detach_vbd(dom0_, cycled.paths);
        const auto paths =
            tools::toolstack::attach_vbd(dom0_, spec(cycled.domid, "xvda", cycled.image));
        const auto wait = tools::toolstack::wait_for_state(
            dom0_, paths.backend + "/state",
            [](auto state) { return state == XenbusState::connected; }, kStateTimeout);
        if (!wait.accepted) {
            ADD_FAILURE() << "attach " << cycle << " of " << total << ": the backend is "
                          << (wait.state ? xen::name(*wait.state) : "missing")
                          << ", not Connected\n"
                          << backend_->log() << "\n"
                          << guest_log(cycled.domid);
            break;
        }
        ++connected;
    }
    done = true;
    io_thread.join();

    EXPECT_EQ(connected, total);
    EXPECT_GT(busy_runs.load(), 0u);
    EXPECT_TRUE(backend_->alive());
    // The busy guest's disk is still there and still verifies.
    AgentClient client = agent(busy.domid);
    const json after = io(client, kXvda, kBusyVerify).reply;
    EXPECT_EQ(after.value("ok", false), true) << after.dump();
}

}  // namespace
}  // namespace pvsim::test
