// pvsim-guest's blkfront against the real pvsim-backend with the blkif
// features both ends negotiate (several queues of multi-page rings, and the
// fallback when the backend offers less), and recovery (blkif_recover): a
// verified write workload at depth 32 finishes with no error and verify
// passing when pvsim-backend is SIGKILLed and started again under it (the
// new backend attaches the live rings, as Linux's does) and when the guest
// reconnects the device itself (the agent's "reconnect", Linux's resume)
// mid-run; a backend node set Closed closes the frontend, as in Linux.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace features_recovery_test {

using nlohmann::json;
using xen::XenbusState;

constexpr std::uint64_t kBlock = 4096;
constexpr std::uint64_t kRegion = 24ull << 20;  // 6144 blocks: long enough to interrupt
constexpr std::uint64_t kSeed = 0xfeed;

const json kWriteVerify = {{"name", "fill"},  {"rw", "randwrite"}, {"bs", kBlock},  {"iodepth", 32},
                           {"size", kRegion}, {"seed", kSeed},     {"verify", true}};

const json& job0(const json& reply) {
    return reply.at("result").at("jobs").at(0);
}

class GuestFeaturesRecoveryTest : public GuestFixture {
  protected:
    AttachedGuest guest_with_features(const std::string& name,
                                      const tools::toolstack::BlkifFeatureSettings& frontend,
                                      const tools::toolstack::BlkifFeatureSettings& backend) {
        const xen::DomId domid = create_guest(name);
        introduce_guest(domid);
        auto vbd = spec(domid, "xvda", make_image(name + ".img", kImageBytes));
        vbd.frontend_features = frontend;
        vbd.backend_features = backend;
        AttachedGuest guest;
        guest.domid = domid;
        guest.image = vbd.target;
        guest.paths = tools::toolstack::attach_vbd(dom0_, vbd);
        return guest;
    }

    json device_of(AgentClient& client) {
        const json reply = client.request({{"op", "devices"}});
        EXPECT_EQ(reply.value("ok", false), true) << reply.dump();
        return reply.at("devices").at(0);
    }

    // A verified write job that passed: every block written and read back.
    void expect_verified(const json& reply, xen::DomId domid) {
        ASSERT_EQ(reply.value("ok", false), true) << reply.dump() << "\n" << guest_log(domid);
        EXPECT_EQ(job0(reply).value("error", 1), 0) << reply.dump();
        EXPECT_EQ(job0(reply).at("write").value("total_ios", 0u), kRegion / kBlock);
        EXPECT_EQ(job0(reply).at("pvsim").at("verify").value("blocks_checked", 0u),
                  kRegion / kBlock);
        EXPECT_EQ(job0(reply).at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u);
    }

    // Starts the job at depth 32 on `runner` and returns once it is under
    // way (its first progress line).
    void start_job(AgentClient& runner, const json& job = kWriteVerify) {
        runner.send({{"op", "io"}, {"devid", kXvda}, {"job", job}, {"progress_ms", 10}});
        const auto progress = runner.read();
        ASSERT_TRUE(progress);
        ASSERT_TRUE(progress->contains("progress")) << progress->dump();
    }
    // The job's final reply.
    json finish_job(AgentClient& runner) {
        for (;;) {
            auto line = runner.read();
            if (!line) {
                throw std::runtime_error("the agent closed the connection during io");
            }
            if (!line->contains("progress")) {
                return *line;
            }
        }
    }
};

TEST_F(GuestFeaturesRecoveryTest, TwoQueuesOfTwoPageRingsCarryVerifiedData) {
    tools::toolstack::BlkifFeatureSettings front;
    front.max_queues = 2;
    front.max_ring_page_order = 1;
    tools::toolstack::BlkifFeatureSettings back;
    back.max_queues = 4;
    back.max_ring_page_order = 2;
    const AttachedGuest guest = guest_with_features("mq", front, back);
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    // min(ours, the backend's) of each, written as Linux's blkfront does.
    const std::string& f = guest.paths.frontend;
    EXPECT_EQ(read(f + "/multi-queue-num-queues"), "2");
    EXPECT_EQ(read(f + "/ring-page-order"), "1");
    EXPECT_EQ(read(f + "/ring-ref"), "<none>");
    EXPECT_EQ(read(f + "/event-channel"), "<none>");
    for (const char* queue : {"queue-0", "queue-1"}) {
        EXPECT_NE(read(f + "/" + queue + "/ring-ref0"), "<none>") << queue;
        EXPECT_NE(read(f + "/" + queue + "/ring-ref1"), "<none>") << queue;
        EXPECT_EQ(read(f + "/" + queue + "/ring-ref2"), "<none>") << queue;
        EXPECT_EQ(read(f + "/" + queue + "/ring-ref"), "<none>") << queue;
        EXPECT_NE(read(f + "/" + queue + "/event-channel"), "<none>") << queue;
    }
    EXPECT_EQ(read(f + "/queue-2/event-channel"), "<none>");
    const json device = device_of(client);
    EXPECT_EQ(device.at("features").value("queues", 0u), 2u) << device.dump();
    EXPECT_EQ(device.at("features").value("ring_page_order", 9u), 1u) << device.dump();
    EXPECT_EQ(device.at("counters").value("queues", 0u), 2u) << device.dump();
    EXPECT_EQ(device.at("counters").value("ring_pages", 0u), 2u) << device.dump();

    // Two jobs of 8 MiB each, each keeping to a queue of its own, data
    // verified.
    json job = kWriteVerify;
    job["numjobs"] = 2;
    job["size"] = 8ull << 20;
    const json reply = io_ok(client, guest.domid, kXvda, job);
    ASSERT_EQ(reply.value("ok", false), true);
    for (const json& each : reply.at("result").at("jobs")) {
        EXPECT_EQ(each.value("error", 1), 0) << reply.dump();
        EXPECT_EQ(each.at("pvsim").at("verify").value("blocks_checked", 0u),
                  (8ull << 20) / kBlock);  // size is per job
    }
    EXPECT_EQ(device_of(client).value("error", "?"), "");
}

TEST_F(GuestFeaturesRecoveryTest, ABackendOfferingLessGetsOneQueueOfOnePage) {
    tools::toolstack::BlkifFeatureSettings front;
    front.max_queues = 4;
    front.max_ring_page_order = 2;
    tools::toolstack::BlkifFeatureSettings back;
    back.max_queues = 1;
    back.max_ring_page_order = 0;
    const AttachedGuest guest = guest_with_features("fallback", front, back);
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    const std::string& f = guest.paths.frontend;
    EXPECT_NE(read(f + "/ring-ref"), "<none>");
    EXPECT_NE(read(f + "/event-channel"), "<none>");
    EXPECT_EQ(read(f + "/multi-queue-num-queues"), "<none>");
    EXPECT_EQ(read(f + "/ring-page-order"), "<none>");
    EXPECT_EQ(read(f + "/ring-ref0"), "<none>");
    EXPECT_EQ(read(f + "/queue-0/ring-ref"), "<none>");
    const json device = device_of(client);
    EXPECT_EQ(device.at("features").value("queues", 0u), 1u) << device.dump();
    EXPECT_EQ(device.at("features").value("ring_page_order", 9u), 0u) << device.dump();

    json job = kWriteVerify;
    job["size"] = 4ull << 20;
    const json reply = io_ok(client, guest.domid, kXvda, job);
    ASSERT_EQ(reply.value("ok", false), true);
    EXPECT_EQ(job0(reply).at("pvsim").at("verify").value("blocks_checked", 0u),
              (4ull << 20) / kBlock);
}

// Linux 5.6+ (blkback's allow_rebind): a backend started again under a
// Connected frontend goes InitWait -> Connected on the live rings
// (xen_blkif_map: BACK_RING_ATTACH at rsp_prod, so what the dead backend
// left unanswered is served again), and blkfront's blkback_changed ignores
// InitWait unless it is Initialising: the frontend never leaves Connected,
// keeps its rings, and nothing is re-issued (no blkif_recover).
TEST_F(GuestFeaturesRecoveryTest, SigkilledBackendRestartedMidRunReattachesTheLiveRings) {
    // Every blkif feature on: two queues of two-page rings, persistent
    // grants and indirect segments (persistent grants are simply mapped
    // again by the next backend on first use).
    tools::toolstack::BlkifFeatureSettings all;
    all.max_queues = 2;
    all.max_ring_page_order = 1;
    all.persistent = true;
    all.max_indirect_segments = 32;
    const AttachedGuest guest = guest_with_features("sigkill", all, all);
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);
    const std::string& f = guest.paths.frontend;
    const auto ring_keys = [&] {
        return read(f + "/queue-0/ring-ref0") + "," + read(f + "/queue-0/ring-ref1") + "," +
               read(f + "/queue-1/ring-ref0") + "," + read(f + "/queue-1/ring-ref1");
    };
    const std::string old_rings = ring_keys();
    ASSERT_EQ(old_rings.find("<none>"), std::string::npos) << old_rings;
    // Every write of the frontend's state node fires this watch; it fires
    // once when set. blkfront writes its state only when it changes.
    std::atomic<unsigned> frontend_writes{0};
    auto watch =
        dom0_.watch(f + "/state", "frontend-state", [&](const auto&) { ++frontend_writes; });
    ASSERT_TRUE(test::eventually([&] { return frontend_writes.load() == 1; }));

    AgentClient runner = agent(guest.domid);
    json job = kWriteVerify;
    job["numjobs"] = 2;
    job["size"] = 8ull << 20;
    job["bs"] = 16 * kBlock;  // 64 KiB: more than 11 segments, so indirect
    start_job(runner, job);
    // Killed three times under the running job, each time started again.
    // The frontend stays Connected throughout: its state node is never
    // written (frontend_writes, below, counts every write).
    for (int kill = 0; kill < 3; ++kill) {
        backend_->kill();
        backend_.emplace(hv_);
        expect_state(guest.paths.backend + "/state", XenbusState::connected);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }

    const json reply = finish_job(runner);
    ASSERT_EQ(reply.value("ok", false), true) << reply.dump() << "\n" << guest_log(guest.domid);
    for (const json& each : reply.at("result").at("jobs")) {
        EXPECT_EQ(each.value("error", 1), 0) << reply.dump();
        EXPECT_EQ(each.at("pvsim").at("verify").value("blocks_checked", 0u),
                  (8ull << 20) / (16 * kBlock));
        EXPECT_EQ(each.at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u);
    }
    EXPECT_EQ(reply.at("frontend").value("recovered", 1u), 0u) << reply.dump();
    const json device = device_of(client);
    EXPECT_EQ(device.value("recoveries", 1u), 0u) << device.dump();
    EXPECT_EQ(device.value("state", 0), 4);
    EXPECT_EQ(device.value("error", "?"), "");
    EXPECT_EQ(device.value("in_flight", 1u), 0u);
    // The frontend's state was never written again, and its rings are the
    // ones it had.
    EXPECT_EQ(frontend_writes.load(), 1u);
    EXPECT_EQ(ring_keys(), old_rings);
    // The device keeps working, and what was written reads back.
    json check = {{"rw", "read"}, {"bs", 16 * kBlock}, {"iodepth", 32}, {"size", 8ull << 20},
                  {"numjobs", 2}, {"seed", kSeed},     {"verify", true}};
    const json read_back = io_ok(client, guest.domid, kXvda, check);
    for (const json& each : read_back.at("result").at("jobs")) {
        EXPECT_EQ(each.at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u)
            << read_back.dump();
    }
}

// Linux blkback_changed: "case XenbusStateClosed: if (dev->state ==
// XenbusStateClosed) break; fallthrough; case XenbusStateClosing:
// blkfront_closing(info)": a backend node set Closed under a Connected
// frontend closes it, Closing or not first; it is not waited for.
TEST_F(GuestFeaturesRecoveryTest, ABackendSetClosedUnderAConnectedFrontendClosesIt) {
    const AttachedGuest guest = guest_with_disk("closed");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    backend_->kill();
    dom0_.write(guest.paths.backend + "/state", "6");
    expect_state(guest.paths.frontend + "/state", XenbusState::closed);
    // The frontend logs its transition once its state node is written: the
    // line may follow the node by a moment.
    EXPECT_TRUE(test::eventually([&] {
        return guest_log(guest.domid).find("Connected (4) -> Closed (6)") != std::string::npos;
    })) << guest_log(guest.domid);
}

// A detach while a job holds the disk (xl block-detach under a running
// fio): Linux 6.1's blkfront_closing does not wait for the disk's holders.
// It stops the queues, marks the disk dead (blk_mark_disk_dead) and goes
// straight to Closed (xenbus_frontend_closed); the job's I/O then fails.
// (Linux 5.17 and older refused instead: "Device in use; refusing to
// close", frontend Closing until the last blkif_release.) The detach is
// libxl's, and completes without --force.
TEST_F(GuestFeaturesRecoveryTest, ADetachUnderARunningJobClosesAtOnceAndFailsTheJob) {
    const AttachedGuest guest = guest_with_disk("busy");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    AgentClient runner = agent(guest.domid);
    json job = kWriteVerify;
    // Far more I/O than the test lasts: only the detach ends it.
    job["io_size"] = 64ull << 30;
    job["runtime_ns"] = 60'000'000'000ll;
    start_job(runner, job);
    const auto started = std::chrono::steady_clock::now();
    tools::toolstack::detach_vbd(dom0_, guest.paths);
    const json reply = finish_job(runner);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    // The job failed on the device going away (pvsim's block devices say
    // ENODEV, block_device.hpp, where Linux's dead disk fails a bio with
    // EIO), not on verify.
    const std::string text = reply.dump();
    EXPECT_EQ(reply.value("ok", true), false) << text;
    // fio's error is the errno: ENODEV, 19 on Linux (errno-base.h).
    EXPECT_EQ(job0(reply).value("error", 0), 19) << text;
    EXPECT_NE(reply.value("error", "").find("(-ENODEV)"), std::string::npos) << text;
    // The frontend never wrote Closing: 4 then 6, as blkfront_closing.
    const std::string log = guest_log(guest.domid);
    EXPECT_NE(log.find("Connected (4) -> Closed (6)"), std::string::npos) << log;
    EXPECT_EQ(log.find("-> Closing (5)"), std::string::npos) << log;
}

TEST_F(GuestFeaturesRecoveryTest, ReconnectMidRunLosesNothing) {
    const AttachedGuest guest = guest_with_disk("reconnect");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    AgentClient runner = agent(guest.domid);
    start_job(runner);
    const json answer = client.request({{"op", "reconnect"}, {"vdev", "xvda"}});
    EXPECT_EQ(answer.value("ok", false), true) << answer.dump() << "\n" << guest_log(guest.domid);
    EXPECT_EQ(read(guest.paths.frontend + "/state"), "4");

    expect_verified(finish_job(runner), guest.domid);
    const json device = device_of(client);
    EXPECT_EQ(device.value("recoveries", 0u), 1u) << device.dump();
    EXPECT_EQ(device.value("state", 0), 4);
    EXPECT_EQ(device.value("error", "?"), "");
    expect_state(guest.paths.backend + "/state", XenbusState::connected);
    // Linux's order for it: frontend Closing, backend Closing and Closed,
    // frontend Closed, Initialising, Initialised, Connected.
    const std::string log = guest_log(guest.domid);
    EXPECT_NE(log.find("Connected (4) -> Closing (5)"), std::string::npos) << log;
    EXPECT_NE(log.find("Closed (6) -> Initialising (1)"), std::string::npos) << log;
}

}  // namespace features_recovery_test
}  // namespace pvsim::test
