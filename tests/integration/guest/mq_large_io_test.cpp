// pvsim-guest's blkfront with two queues and I/O large enough to fill their
// rings, against the real pvsim-backend. With Linux's other defaults
// (persistent grants, 32 indirect segments, one ring page per queue) a 1 MiB
// I/O is eight BLKIF_OP_INDIRECT requests, and a depth of 8 wants 64 slots
// of a 32-slot ring; with plain requests only (pvsim bench's xen-mq) it is
// 24, and a depth of 8 wants 192. Each completion submits the next I/O from
// the ring's completion thread; that submission has to stay on its own ring
// (where it queues on a full ring), never wait for a slot on the other ring,
// whose completion thread may be waiting the same way on this one. Writes
// and reads, one job and two, are verified.
#include <cstdint>
#include <string>

#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace mq_large_io_test {

using nlohmann::json;

constexpr std::uint64_t kMiB = 1ull << 20;
// Sixteen 1 MiB I/Os: two full rounds of depth 8, and eight per job when
// two jobs split it.
constexpr std::uint64_t kRegion = 16 * kMiB;
constexpr std::uint64_t kPagesPerIo = kMiB / 4096;

const json& job0(const json& reply) {
    return reply.at("result").at("jobs").at(0);
}

class GuestMqLargeIoTest : public GuestFixture {
  protected:
    // DISKSPEC queues=2 with `features` for both ends: both ends' max_queues
    // set, every other feature as `features` has it (unset: the default);
    // `trusted` false is DISKSPEC untrusted.
    AttachedGuest guest_with_two_queues(const std::string& name,
                                        tools::toolstack::BlkifFeatureSettings features = {},
                                        bool trusted = true) {
        features.max_queues = 2;
        AttachedGuest guest;
        guest.domid = create_guest(name);
        introduce_guest(guest.domid);
        auto vbd = spec(guest.domid, "xvda", make_image(name + ".img", kImageBytes));
        vbd.frontend_features = features;
        vbd.backend_features = features;
        vbd.trusted = trusted;
        guest.image = vbd.target;
        guest.paths = tools::toolstack::attach_vbd(dom0_, vbd);
        return guest;
    }

    static json large_job(const std::string& rw, std::uint64_t size) {
        return {{"name", rw},   {"rw", rw},   {"bs", kMiB},    {"iodepth", 8},
                {"size", size}, {"seed", 7u}, {"verify", true}};
    }

    // Sequential 1 MiB writes at depth 8 and their verify pass, sequential
    // 1 MiB reads at depth 8 checked against them, then two jobs of random
    // writes, each submitting on a queue of its own: all complete, verified,
    // each 1 MiB I/O as `requests_per_io` blkif requests (indirect ones when
    // `indirect`).
    void expect_large_io_completes(const AttachedGuest& guest, std::uint64_t requests_per_io,
                                   bool indirect) {
        AgentClient client = agent(guest.domid);
        const json device = wait_device(client, guest.domid, kXvda);
        EXPECT_EQ(device.at("features").value("queues", 0u), 2u) << device.dump();
        EXPECT_EQ(device.at("features").value("ring_page_order", 9u), 0u) << device.dump();

        const json written = io_ok(client, guest.domid, kXvda, large_job("write", kRegion));
        ASSERT_EQ(written.value("ok", false), true);
        EXPECT_EQ(job0(written).value("error", 1), 0) << written.dump();
        EXPECT_EQ(job0(written).at("write").value("total_ios", 0u), kRegion / kMiB);
        EXPECT_EQ(job0(written).at("pvsim").at("verify").value("blocks_checked", 0u),
                  kRegion / kMiB);
        const json& frontend = written.at("frontend");
        // The write pass and its verify pass.
        EXPECT_EQ(frontend.value("requests", 0u), 2 * (kRegion / kMiB) * requests_per_io)
            << frontend.dump();
        EXPECT_EQ(frontend.value("indirect_requests", 1u),
                  indirect ? frontend.value("requests", 1u) : 0u)
            << frontend.dump();

        // The reported case.
        const json read = io_ok(client, guest.domid, kXvda, large_job("read", kRegion));
        ASSERT_EQ(read.value("ok", false), true);
        EXPECT_EQ(job0(read).value("error", 1), 0) << read.dump();
        EXPECT_EQ(job0(read).at("read").value("total_ios", 0u), kRegion / kMiB);
        EXPECT_EQ(job0(read).at("pvsim").at("verify").value("blocks_checked", 0u), kRegion / kMiB);
        EXPECT_EQ(job0(read).at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u);

        json two = large_job("randwrite", kRegion / 2);
        two["numjobs"] = 2;
        two["seed"] = 8u;
        const json both = io_ok(client, guest.domid, kXvda, two);
        ASSERT_EQ(both.value("ok", false), true);
        ASSERT_EQ(both.at("result").at("jobs").size(), 2u) << both.dump();
        for (const json& each : both.at("result").at("jobs")) {
            EXPECT_EQ(each.value("error", 1), 0) << both.dump();
            EXPECT_EQ(each.at("pvsim").at("verify").value("blocks_checked", 0u),
                      kRegion / 2 / kMiB);
        }

        const json after = client.request({{"op", "devices"}}).at("devices").at(0);
        EXPECT_EQ(after.value("error", "?"), "") << after.dump();
        EXPECT_EQ(after.value("in_flight", 1u), 0u) << after.dump();
        EXPECT_EQ(after.value("state", 0), 4) << after.dump();
    }
};

TEST_F(GuestMqLargeIoTest, OneMibIoAtDepthEightOverTwoQueuesWithLinuxDefaults) {
    const AttachedGuest guest = guest_with_two_queues("mqdefaults");
    {
        AgentClient client = agent(guest.domid);
        const json device = wait_device(client, guest.domid, kXvda);
        EXPECT_EQ(device.at("features").value("indirect_segments", 0u), 32u) << device.dump();
        EXPECT_EQ(device.at("features").value("persistent", false), true) << device.dump();
        EXPECT_EQ(device.at("features").value("bounce", false), true) << device.dump();
    }
    // 256 pages in 32-segment indirect requests.
    expect_large_io_completes(guest, kPagesPerIo / 32, true);
}

TEST_F(GuestMqLargeIoTest, OneMibIoAtDepthEightOverTwoQueuesOfPlainRequests) {
    // pvsim bench's xen-mq: every other feature off.
    tools::toolstack::BlkifFeatureSettings plain;
    plain.persistent = false;
    plain.max_indirect_segments = 0;
    const AttachedGuest guest = guest_with_two_queues("mqplain", plain);
    {
        AgentClient client = agent(guest.domid);
        const json device = wait_device(client, guest.domid, kXvda);
        EXPECT_EQ(device.at("features").value("indirect_segments", 1u), 0u) << device.dump();
        EXPECT_EQ(device.at("features").value("persistent", true), false) << device.dump();
        EXPECT_EQ(device.at("features").value("bounce", true), false) << device.dump();
    }
    // 256 pages in requests of 11 segments.
    expect_large_io_completes(guest, (kPagesPerIo + 10) / 11, false);
    AgentClient client = agent(guest.domid);
    const json device = wait_device(client, guest.domid, kXvda);
    EXPECT_EQ(device.at("counters").value("data_copies", 1u), 0u) << device.dump();
}

// DISKSPEC untrusted (Linux 5.19+ blkfront's bounce, XSA-403) over the same
// plain requests: every segment goes through blkfront's own pages, granted
// per request, and everything still verifies.
TEST_F(GuestMqLargeIoTest, OneMibIoAtDepthEightOverTwoQueuesBouncedForAnUntrustedBackend) {
    tools::toolstack::BlkifFeatureSettings plain;
    plain.persistent = false;
    plain.max_indirect_segments = 0;
    const AttachedGuest guest = guest_with_two_queues("mquntrusted", plain, false);
    {
        AgentClient client = agent(guest.domid);
        const json device = wait_device(client, guest.domid, kXvda);
        EXPECT_EQ(device.at("features").value("persistent", true), false) << device.dump();
        EXPECT_EQ(device.at("features").value("bounce", false), true) << device.dump();
    }
    expect_large_io_completes(guest, (kPagesPerIo + 10) / 11, false);
    AgentClient client = agent(guest.domid);
    const json device = wait_device(client, guest.domid, kXvda);
    const json& counters = device.at("counters");
    // Every segment was copied, into the pool for a write, out for a read.
    EXPECT_EQ(counters.value("data_copies", 0u), counters.value("segments", 1u)) << device.dump();
    EXPECT_GT(counters.value("pool_pages", 0u), 0u) << device.dump();
    // Each grant ended when its request was answered.
    EXPECT_EQ(counters.value("persistent_grants", 1u), 0u) << device.dump();
}

}  // namespace mq_large_io_test
}  // namespace pvsim::test
