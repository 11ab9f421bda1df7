// pvsim-guest with real disks: it opens a vbd the toolstack attaches by
// itself, reports it, runs verified workloads on it whose blocks land on
// the image where their headers say, remembers what it wrote across runs
// and across detach and re-attach, cancels the run of a client that goes
// away, and closes a device when asked (frontend-initiated close).
#include <cstring>
#include <string>

#include "frontend/workload/verify_block.hpp"
#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace guest_devices_test {

using nlohmann::json;

constexpr std::uint64_t kBlock = 4096;
constexpr std::uint64_t kRegion = 1ull << 20;  // 256 blocks
constexpr std::uint64_t kSeed = 0x5eed;

const json kWriteVerify = {{"name", "fill"},  {"rw", "write"}, {"bs", kBlock},  {"iodepth", 8},
                           {"size", kRegion}, {"seed", kSeed}, {"verify", true}};
const json kReadVerify = {{"name", "check"}, {"rw", "randread"}, {"bs", kBlock},
                          {"iodepth", 4},    {"size", kRegion},  {"verify", true}};

const json& job0(const json& reply) {
    return reply.at("result").at("jobs").at(0);
}

class GuestDevicesTest : public GuestFixture {};

TEST_F(GuestDevicesTest, AttachedDeviceOpensByItselfAndIsReported) {
    const AttachedGuest guest = guest_with_disk("report");
    AgentClient client = agent(guest.domid);
    const json device = wait_device(client, guest.domid, kXvda);
    EXPECT_EQ(device.value("state", 0), 4);

    const json reply = client.request({{"op", "devices"}});
    ASSERT_EQ(reply.value("ok", false), true) << reply.dump();
    ASSERT_EQ(reply.at("devices").size(), 1u) << reply.dump();
    const json& listed = reply.at("devices").at(0);
    EXPECT_EQ(listed.value("devid", 0u), kXvda);
    EXPECT_EQ(listed.value("vdev", ""), "xvda");
    EXPECT_EQ(listed.value("nodename", ""), guest.paths.frontend);
    EXPECT_EQ(listed.value("state", 0), 4);
    EXPECT_EQ(listed.value("backend_state", 0), 4);
    EXPECT_EQ(listed.value("backend", ""), guest.paths.backend);
    EXPECT_EQ(listed.value("capacity_sectors", 0ull), kImageBytes / 512);
    EXPECT_EQ(listed.value("sector_size", 0u), 512u);
    EXPECT_EQ(listed.value("read_only", true), false);
    EXPECT_EQ(listed.value("error", "?"), "");
    EXPECT_EQ(listed.value("in_flight", 1u), 0u);
    for (const char* counter :
         {"requests", "segments", "bytes", "responses", "notifications_sent",
          "notifications_suppressed", "notifications_received", "grants_deferred"}) {
        EXPECT_TRUE(listed.at("counters").contains(counter)) << counter;
    }
    EXPECT_EQ(read(guest.paths.frontend + "/state"), "4");
    // Every state the frontend took is in the guest's log.
    const std::string log = guest_log(guest.domid);
    EXPECT_NE(log.find("frontend Initialised"), std::string::npos) << log;
    EXPECT_NE(log.find("frontend Connected"), std::string::npos) << log;
}

TEST_F(GuestDevicesTest, JobsThatDoNotFitTheDeviceAreRefusedNamingTheOption) {
    const AttachedGuest guest = guest_with_disk("options");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);
    const auto error_of = [&](const json& job) {
        const json reply = client.request({{"op", "io"}, {"devid", kXvda}, {"job", job}});
        EXPECT_EQ(reply.value("ok", true), false) << reply.dump();
        EXPECT_FALSE(reply.contains("result")) << reply.dump();
        return reply.value("error", std::string());
    };
    EXPECT_EQ(error_of({{"bs", 1000}}).rfind("bs", 0), 0u);
    EXPECT_EQ(error_of({{"size", 2 * kImageBytes}}).rfind("size", 0), 0u);
    EXPECT_EQ(error_of({{"iodepth", 0}}).rfind("iodepth", 0), 0u);
    // Refused before anything ran: the device is free.
    io_ok(client, guest.domid, kXvda, {{"rw", "read"}, {"size", 16 * kBlock}});
}

TEST_F(GuestDevicesTest, DeviceThatFailsToOpenIsReportedAndDropped) {
    const xen::DomId domid = create_guest("broken");
    introduce_guest(domid);
    tools::toolstack::VbdSpec broken = spec(domid, "xvdb", hv_.temp_path() / "missing.img");
    broken.backend = tools::toolstack::DiskBackend::qdisk;  // opened by the backend, which fails
    const auto paths = tools::toolstack::add_vbd(dom0_, broken);
    AgentClient client = agent(domid);
    const json reply =
        client.request({{"op", "wait-device"}, {"devid", paths.devid}, {"timeout_ms", 20000}});
    EXPECT_EQ(reply.value("ok", true), false) << reply.dump();
    EXPECT_NE(reply.value("error", "").find("device 51728 (xvdb) failed to open: "),
              std::string::npos)
        << reply.dump() << "\n"
        << guest_log(domid);
    EXPECT_TRUE(eventually([&] {
        return client.request({{"op", "devices"}}).at("devices").empty();
    })) << guest_log(domid);
    EXPECT_EQ(client.request({{"op", "ping"}}).value("ok", false), true);
}

TEST_F(GuestDevicesTest, WrittenBlocksLandOnTheImageAndLaterReadsVerifyThem) {
    const AttachedGuest guest = guest_with_disk("verify");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    const json write = io_ok(client, guest.domid, kXvda, kWriteVerify);
    EXPECT_EQ(job0(write).at("write").value("total_ios", 0u), kRegion / kBlock);
    EXPECT_EQ(job0(write).at("write").value("io_bytes", 0u), kRegion);
    // A write job with verify reads every block back.
    EXPECT_EQ(job0(write).at("pvsim").at("verify").value("blocks_checked", 0u), kRegion / kBlock);
    // blkfront's counters over the run: at least a request per I/O, with
    // the bytes of the writes and the read-back.
    EXPECT_GE(write.at("frontend").value("requests", 0u), 2 * kRegion / kBlock);
    EXPECT_GE(write.at("frontend").value("bytes", 0u), 2 * kRegion);
    EXPECT_GE(write.at("frontend").value("responses", 0u), 2 * kRegion / kBlock);

    // On the image, each block's verify header says where it was written.
    const std::vector<std::uint8_t> image = read_bytes(guest.image, 0, kRegion);
    for (std::uint64_t offset = 0; offset < kRegion; offset += kBlock) {
        const auto header = frontend::workload::read_header(
            std::as_bytes(std::span(image.data() + offset, kBlock)));
        ASSERT_EQ(header.magic, frontend::workload::kVerifyMagic) << "block at " << offset;
        EXPECT_EQ(header.offset, offset);
        EXPECT_EQ(header.length, kBlock);
        EXPECT_EQ(header.seed, kSeed);
    }
    // Past the region nothing was written.
    const auto after = read_bytes(guest.image, kRegion, kBlock);
    EXPECT_EQ(after, std::vector<std::uint8_t>(kBlock, 0));

    // A second run knows what the first one wrote.
    const json read_back = io_ok(client, guest.domid, kXvda, kReadVerify);
    EXPECT_EQ(job0(read_back).at("read").value("total_ios", 0u), kRegion / kBlock);
    EXPECT_EQ(job0(read_back).at("pvsim").at("verify").value("blocks_checked", 0u),
              kRegion / kBlock);
    EXPECT_EQ(job0(read_back).at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u);

    // And so it notices a block that changed behind its back: block 7 gets
    // the bytes of block 8 (a misdirected write).
    write_bytes(guest.image, 7 * kBlock, read_bytes(guest.image, 8 * kBlock, kBlock));
    const IoReply bad = io(client, kXvda, kReadVerify);
    EXPECT_EQ(bad.reply.value("ok", true), false) << bad.reply.dump();
    EXPECT_NE(bad.reply.value("error", "").find("0x7000 (28672)"), std::string::npos)
        << bad.reply.dump();
    EXPECT_TRUE(bad.reply.contains("result"));
    EXPECT_TRUE(bad.reply.contains("frontend"));
}

TEST_F(GuestDevicesTest, ReattachedDeviceOpensAfreshAndRemembersWhatWasWritten) {
    const AttachedGuest guest = guest_with_disk("reattach");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);
    io_ok(client, guest.domid, kXvda, kWriteVerify);

    // libxl's detach: the guest's blkfront closes on the backend's Closing
    // and the guest drops the device.
    tools::toolstack::detach_vbd(dom0_, guest.paths);
    EXPECT_TRUE(eventually([&] {
        return client.request({{"op", "devices"}}).at("devices").empty();
    })) << guest_log(guest.domid);
    const json gone = client.request({{"op", "io"}, {"devid", kXvda}, {"job", kReadVerify}});
    EXPECT_EQ(gone.value("error", ""), "no device 51712 (xvda?)");

    const auto paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid, "xvda", guest.image));
    const json device = wait_device(client, guest.domid, kXvda);
    EXPECT_EQ(device.value("backend", ""), paths.backend);
    // A fresh blkfront: its counters start again.
    EXPECT_LT(device.at("counters").value("requests", 1000u), 10u);
    const json read_back = io_ok(client, guest.domid, kXvda, kReadVerify);
    EXPECT_EQ(job0(read_back).at("pvsim").at("verify").value("blocks_checked", 0u),
              kRegion / kBlock);
    EXPECT_EQ(job0(read_back).at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u);

    // Forgotten, the blocks are only checked for being readable.
    const json forget = client.request({{"op", "forget"}, {"devid", kXvda}});
    EXPECT_EQ(forget.value("forgot", false), true);
    const json unknown = io_ok(client, guest.domid, kXvda, kReadVerify);
    EXPECT_EQ(job0(unknown).at("pvsim").at("verify").value("blocks_checked", 1u), 0u);
    EXPECT_EQ(job0(unknown).at("pvsim").at("verify").value("blocks_unwritten", 0u),
              kRegion / kBlock);
}

TEST_F(GuestDevicesTest, ClientThatGoesAwayCancelsItsRun) {
    const AttachedGuest guest = guest_with_disk("cancel");
    AgentClient runner = agent(guest.domid);
    wait_device(runner, guest.domid, kXvda);

    // Time based, far longer than the test may take.
    const json job = {
        {"rw", "randread"}, {"bs", kBlock}, {"iodepth", 4}, {"runtime_ns", 600'000'000'000ull}};
    runner.send({{"op", "io"}, {"devid", kXvda}, {"job", job}, {"progress_ms", 20}});
    const auto progress = runner.read();
    ASSERT_TRUE(progress);
    ASSERT_TRUE(progress->contains("progress")) << progress->dump();
    for (const char* field : {"elapsed_ns", "ios", "bytes", "read_ios", "write_ios"}) {
        EXPECT_TRUE(progress->at("progress").contains(field)) << field;
    }

    // One io per device at a time.
    AgentClient other = agent(guest.domid);
    const json busy = other.request({{"op", "io"}, {"devid", kXvda}, {"job", job}});
    EXPECT_EQ(busy.value("ok", true), false);
    EXPECT_NE(busy.value("error", "").find("busy"), std::string::npos) << busy.dump();

    runner.close();
    // The run stops: the device is free again, long before its runtime.
    const json short_job = {{"rw", "read"}, {"bs", kBlock}, {"size", 64 * kBlock}};
    json reply;
    EXPECT_TRUE(eventually([&] {
        reply = io(other, kXvda, short_job).reply;
        return reply.value("ok", false);
    })) << reply.dump();
    EXPECT_NE(guest_log(guest.domid).find("cancelled"), std::string::npos)
        << guest_log(guest.domid);
    EXPECT_EQ(other.request({{"op", "ping"}}).value("ok", false), true);
}

TEST_F(GuestDevicesTest, CloseIsFrontendInitiated) {
    const AttachedGuest guest = guest_with_disk("close");
    AgentClient client = agent(guest.domid);
    wait_device(client, guest.domid, kXvda);

    const json reply = client.request({{"op", "close"}, {"devid", kXvda}});
    EXPECT_EQ(reply.value("ok", false), true) << reply.dump() << guest_log(guest.domid);
    EXPECT_EQ(reply.value("state", 0), 6);
    // The backend followed the frontend: Closing, then Closed.
    expect_state(guest.paths.backend + "/state", xen::XenbusState::closed);
    EXPECT_EQ(read(guest.paths.frontend + "/state"), "6");
    // The backend's own writes: the Closing it mirrored, then Closed.
    EXPECT_EQ(
        backend_writes(guest.paths.backend, 4),
        (std::vector<xen::XenbusState>{xen::XenbusState::init_wait, xen::XenbusState::connected,
                                       xen::XenbusState::closing, xen::XenbusState::closed}))
        << backend_->log();
    // The frontend went first: Closing, then Closed once the backend was.
    const std::string log = guest_log(guest.domid);
    const auto closing = log.find("frontend Closing");
    ASSERT_NE(closing, std::string::npos) << log;
    EXPECT_NE(log.find("frontend Closed", closing), std::string::npos) << log;
    EXPECT_NE(log.find("closing (frontend-initiated)"), std::string::npos) << log;
    EXPECT_TRUE(eventually([&] {
        return client.request({{"op", "devices"}}).at("devices").empty();
    })) << guest_log(guest.domid);
    // The toolstack then finds the backend Closed and removes the directories.
    tools::toolstack::detach_vbd(dom0_, guest.paths);
    EXPECT_EQ(read(guest.paths.frontend + "/state"), "<none>");
}

// The toolstack returns from an attach once blkfront writes Connected, a
// moment before the guest's probe has the opened device in hand; an unplug
// sent in that moment waits for the open (Linux's driver core holds the
// device lock across blkfront's probe) instead of failing "not open yet".
TEST_F(GuestDevicesTest, AnUnplugRightAfterTheAttachReturnsWaitsForTheOpen) {
    const xen::DomId domid = create_guest("quick");
    introduce_guest(domid);
    AgentClient client = agent(domid);
    for (int round = 0; round < 5; ++round) {
        const auto paths = tools::toolstack::attach_vbd(
            dom0_,
            spec(domid, "xvda", make_image("quick" + std::to_string(round) + ".img", kImageBytes)));
        const json reply = client.request({{"op", "close"}, {"devid", kXvda}});
        ASSERT_EQ(reply.value("ok", false), true) << reply.dump() << guest_log(domid);
        EXPECT_EQ(reply.value("state", 0), 6);
        tools::toolstack::detach_vbd(dom0_, paths);
    }
}

}  // namespace guest_devices_test
}  // namespace pvsim::test
