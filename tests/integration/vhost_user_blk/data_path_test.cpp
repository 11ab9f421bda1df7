// The vhost-user-blk server driven by a test front-end over its socket:
// negotiation, configuration, every request type checked against the image
// file, several queues, EVENT_IDX notification counts.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "backend/data_plane/pass_budget.hpp"
#include "server_fixture.hpp"

// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace data_path_test {

using namespace pvsim::test;
using pvsim::backend::vhost_user_blk::DeviceConfig;
using pvsim::virtio::BlkFeature;
using pvsim::virtio::BlkReqType;
using pvsim::virtio::BlkStatus;
using pvsim::virtio::Feature;
using pvsim::virtio::feature_mask;
namespace vu = pvsim::vhost_user;

constexpr std::uint64_t kAllFeatures = ~std::uint64_t{0};
constexpr auto kOk = static_cast<std::uint8_t>(BlkStatus::ok);
constexpr auto kIoErr = static_cast<std::uint8_t>(BlkStatus::ioerr);
constexpr auto kUnsupp = static_cast<std::uint8_t>(BlkStatus::unsupp);

using VhostUserBlkData = ServerFixture;

TEST_F(VhostUserBlkData, OffersTheContractsFeaturesAndConfig) {
    start(4);
    auto fe = connect();
    const std::uint64_t features = fe->get_features();
    for (auto f : {Feature::version_1, Feature::event_idx, Feature::indirect_desc}) {
        EXPECT_TRUE(pvsim::virtio::has_feature(features, f));
    }
    for (auto f : {BlkFeature::flush, BlkFeature::seg_max, BlkFeature::blk_size, BlkFeature::mq,
                   BlkFeature::config_wce}) {
        EXPECT_TRUE(pvsim::virtio::has_feature(features, f));
    }
    EXPECT_TRUE((features & feature_mask(vu::kFProtocolFeatures)) != 0);
    fe->send(vu::Request::get_protocol_features);
    const std::uint64_t protocol = fe->receive_u64(vu::Request::get_protocol_features);
    EXPECT_EQ(protocol, DeviceConfig::protocol_features());
    EXPECT_FALSE(vu::has_protocol_feature(protocol, vu::ProtocolFeature::inflight_shmfd));
    fe->send(vu::Request::get_queue_num);
    EXPECT_EQ(fe->receive_u64(vu::Request::get_queue_num), 4u);

    // GET_CONFIG of the whole virtio-blk config space.
    std::vector<std::byte> request(vu::kConfigHeaderSize + sizeof(pvsim::virtio::VirtioBlkConfig));
    const std::uint32_t header[3] = {0, sizeof(pvsim::virtio::VirtioBlkConfig), 0};
    std::memcpy(request.data(), header, sizeof(header));
    fe->send(vu::Request::get_config, request);
    const auto reply = fe->receive();
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->payload.size(), request.size());
    pvsim::virtio::VirtioBlkConfig config;
    std::memcpy(&config, reply->payload.data() + vu::kConfigHeaderSize, sizeof(config));
    EXPECT_EQ(config.capacity, kImageSize / 512);
    EXPECT_EQ(config.num_queues, 4);
    EXPECT_EQ(config.seg_max, 254u);
    EXPECT_EQ(config.blk_size, 512u);
    EXPECT_EQ(config.max_discard_seg, 1u);

    // A range outside the config space: a zero-size reply.
    const std::uint32_t bad[3] = {64, 16, 0};
    std::vector<std::byte> bad_request(vu::kConfigHeaderSize + 16);
    std::memcpy(bad_request.data(), bad, sizeof(bad));
    fe->send(vu::Request::get_config, bad_request);
    const auto refused = fe->receive();
    ASSERT_TRUE(refused);
    EXPECT_TRUE(refused->payload.empty());
}

TEST_F(VhostUserBlkData, ReadsAndWritesReachTheImage) {
    start();
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    fe->start_queue(0);
    GuestMemory& mem = fe->memory();

    // Read 8 KiB at sector 24.
    const BlkBuffers read = make_blk_request(mem, BlkReqType::in, 24, 8192);
    std::uint32_t used_len = 0;
    ASSERT_EQ(fe->run(0, read, true, &used_len), kOk);
    EXPECT_EQ(used_len, 8192u + 1);
    const auto expected = image_bytes(24 * 512, 8192);
    EXPECT_EQ(std::memcmp(mem.at(read.data), expected.data(), 8192), 0);

    // Write 4 KiB at sector 8, then check the file.
    const BlkBuffers write = make_blk_request(mem, BlkReqType::out, 8, 4096);
    for (std::uint32_t i = 0; i < 4096; ++i) {
        *mem.at(write.data + i) = static_cast<std::byte>(i ^ 0xa5);
    }
    ASSERT_EQ(fe->run(0, write, false, &used_len), kOk);
    EXPECT_EQ(used_len, 1u);
    const auto written = image_bytes(8 * 512, 4096);
    EXPECT_EQ(std::memcmp(mem.at(write.data), written.data(), 4096), 0);

    // An indirect request reads the bytes just written.
    const BlkBuffers indirect = make_blk_request(mem, BlkReqType::in, 8, 4096);
    const std::uint16_t head = fe->queue(0).ring->write_indirect(indirect.chain(true));
    fe->submit(0, head);
    const auto used = fe->wait_used(0, 1);
    EXPECT_EQ(used.front().id, head);
    EXPECT_EQ(status_of(mem, indirect), kOk);
    EXPECT_EQ(std::memcmp(mem.at(indirect.data), written.data(), 4096), 0);

    // FLUSH and GET_ID.
    EXPECT_EQ(fe->run(0, make_blk_request(mem, BlkReqType::flush, 0, 0), false), kOk);
    const BlkBuffers id = make_blk_request(mem, BlkReqType::get_id, 0, 20);
    ASSERT_EQ(fe->run(0, id, true, &used_len), kOk);
    EXPECT_EQ(used_len, 21u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(mem.at(id.data))), "disk.img");

    const auto c = counters();
    EXPECT_EQ(c.reads, 2u);
    EXPECT_EQ(c.writes, 1u);
    EXPECT_EQ(c.flushes, 1u);
    EXPECT_EQ(c.get_ids, 1u);
    EXPECT_EQ(c.indirect_requests, 1u);
    EXPECT_EQ(c.bytes_read, 8192u + 4096u);
    EXPECT_EQ(c.bytes_written, 4096u);
    EXPECT_EQ(c.errors, 0u);
}

TEST_F(VhostUserBlkData, DiscardAndWriteZeroesLeaveZeros) {
    start();
    auto fe = connect();
    const std::uint64_t features = fe->negotiate(kAllFeatures);
    ASSERT_TRUE(pvsim::virtio::has_feature(features, BlkFeature::discard))
        << "the image's file system cannot punch holes";
    fe->start_queue(0);
    GuestMemory& mem = fe->memory();
    auto range_request = [&](BlkReqType type, std::uint64_t sector, std::uint32_t count,
                             std::uint32_t flags) {
        BlkBuffers b = make_blk_request(mem, type, 0, 512);
        const pvsim::virtio::VirtioBlkDiscardWriteZeroes range{sector, count, flags};
        std::memcpy(mem.at(b.data), &range, sizeof(range));
        b.data_len = sizeof(range);
        return fe->run(0, b, false);
    };
    const std::vector<std::uint8_t> zeros(8 * 512, 0);
    // Discard of 8 sectors at 4096 (a whole 4 KiB block: hole punching
    // deallocates whole blocks).
    ASSERT_EQ(range_request(BlkReqType::discard, 4096 / 512 * 64, 8, 0), kOk);
    EXPECT_EQ(image_bytes(4096 * 64, 8 * 512), zeros);
    // WRITE_ZEROES with UNMAP allowed.
    ASSERT_EQ(
        range_request(BlkReqType::write_zeroes, 1024, 8, pvsim::virtio::kBlkWriteZeroesFlagUnmap),
        kOk);
    EXPECT_EQ(image_bytes(1024 * 512, 8 * 512), zeros);
    // Without UNMAP: zeros where the file system has zero-range, else UNSUPP.
    const std::uint8_t status = range_request(BlkReqType::write_zeroes, 2048, 8, 0);
    if (status == kOk) {
        EXPECT_EQ(image_bytes(2048 * 512, 8 * 512), zeros);
    } else {
        EXPECT_EQ(status, kUnsupp);
    }
    // A discard with the unmap flag (UNSUPP, §5.2.6.2) and one past the end.
    EXPECT_EQ(range_request(BlkReqType::discard, 0, 8, pvsim::virtio::kBlkWriteZeroesFlagUnmap),
              kUnsupp);
    EXPECT_EQ(range_request(BlkReqType::discard, kImageSize / 512 - 4, 8, 0), kIoErr);
    // The bytes around the discarded range are untouched.
    const auto before = image_bytes(4096 * 64 - 512, 512);
    for (std::size_t i = 0; i < before.size(); ++i) {
        ASSERT_EQ(before[i], pattern_byte(4096 * 64 - 512 + i));
    }
    EXPECT_EQ(counters().discards, 3u);
    EXPECT_EQ(counters().write_zeroes, 2u);
}

TEST_F(VhostUserBlkData, ServesSeveralQueues) {
    start(2);
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    fe->start_queue(0);
    fe->start_queue(1);
    GuestMemory& mem = fe->memory();
    for (unsigned q = 0; q < 2; ++q) {
        const BlkBuffers read = make_blk_request(mem, BlkReqType::in, 100 + q, 512);
        ASSERT_EQ(fe->run(q, read, true), kOk);
        const auto expected = image_bytes((100 + q) * 512, 512);
        EXPECT_EQ(std::memcmp(mem.at(read.data), expected.data(), 512), 0);
    }
    EXPECT_EQ(counters().reads, 2u);
}

TEST_F(VhostUserBlkData, EventIdxSignalsOnlyWhatTheDriverAskedFor) {
    start();
    auto fe = connect();
    ASSERT_TRUE(pvsim::virtio::has_feature(fe->negotiate(kAllFeatures), Feature::event_idx));
    auto& q = fe->start_queue(0);
    GuestMemory& mem = fe->memory();
    auto run_without_waiting = [&](std::uint16_t used_event) {
        q.ring->view().set_used_event(used_event);
        const BlkBuffers b = make_blk_request(mem, BlkReqType::in, 0, 512);
        fe->submit(0, q.ring->write_chain(b.chain(true)));
        ASSERT_TRUE(eventually([&] { return q.ring->view().used_idx() != q.ring->last_used(); }));
        ASSERT_TRUE(q.ring->take_used().has_value());
        EXPECT_EQ(status_of(mem, b), kOk);
    };
    // A driver that asks for nothing (used_event far ahead) gets no call.
    for (int i = 0; i < 10; ++i) {
        run_without_waiting(static_cast<std::uint16_t>(q.ring->last_used() + 1000));
    }
    EXPECT_EQ(counters().notifications_sent, 0u);
    EXPECT_EQ(q.call.try_consume(), 0u);
    // One that asks to hear of each next entry gets exactly one call each.
    for (int i = 0; i < 10; ++i) {
        run_without_waiting(q.ring->last_used());
    }
    EXPECT_EQ(counters().notifications_sent, 10u);
    EXPECT_EQ(q.call.try_consume(), 10u);
    EXPECT_EQ(counters().notifications_suppressed, 10u);
}

// A queue of large reads is answered a PassBudget at a time
// (backend/data_plane/pass_budget.hpp), as QEMU's virtio-blk answers each
// request when its aio completes, not once the whole queue has been read:
// 8 reads of 64 KiB made available behind one index and one kick come back
// in two used-ring updates with the sync engine, which reads as it takes
// (4 and 4: a pass stops at the request that reaches 256 KiB).
TEST_F(VhostUserBlkData, AQueueOfLargeReadsIsAnsweredAPassBudgetAtATime) {
    start(1, false, pvsim::backend::storage::EngineKind::sync);
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    auto& q = fe->start_queue(0);
    GuestMemory& mem = fe->memory();
    constexpr std::uint32_t kBytes = 64 * 1024;
    constexpr std::size_t kRequests = 8;
    std::vector<BlkBuffers> reads;
    for (std::size_t i = 0; i < kRequests; ++i) {
        reads.push_back(make_blk_request(mem, BlkReqType::in, i * (kBytes / 512), kBytes));
        q.ring->add_avail(q.ring->write_chain(reads.back().chain(true)));
    }
    q.ring->publish_avail();
    q.kick.signal();
    ASSERT_EQ(fe->wait_used(0, kRequests).size(), kRequests);
    for (std::size_t i = 0; i < kRequests; ++i) {
        EXPECT_EQ(status_of(mem, reads[i]), kOk) << i;
        const auto expected = image_bytes(i * kBytes, kBytes);
        EXPECT_EQ(std::memcmp(mem.at(reads[i].data), expected.data(), kBytes), 0) << i;
    }
    const std::uint64_t per_pass = pvsim::backend::data_plane::PassBudget::kBytes / kBytes;
    ASSERT_EQ(per_pass, 4u);
    // The device counts an update after it is published: the last one may
    // be counted after the driver has seen its buffers.
    const auto updates = [&] {
        const auto c = counters();
        return c.notifications_sent + c.notifications_suppressed;
    };
    EXPECT_TRUE(eventually([&] { return updates() >= kRequests / per_pass; })) << updates();
    EXPECT_EQ(updates(), kRequests / per_pass) << "used-ring updates";
    EXPECT_EQ(counters().bytes_read, kRequests * kBytes);
}

TEST_F(VhostUserBlkData, ReadOnlyDevicesRefuseWrites) {
    start(1, true);
    auto fe = connect();
    const std::uint64_t features = fe->negotiate(kAllFeatures);
    EXPECT_TRUE(pvsim::virtio::has_feature(features, BlkFeature::ro));
    EXPECT_FALSE(pvsim::virtio::has_feature(features, BlkFeature::discard));
    fe->start_queue(0);
    EXPECT_EQ(fe->run(0, make_blk_request(fe->memory(), BlkReqType::out, 0, 512), false), kIoErr);
    EXPECT_EQ(image_bytes(0, 1)[0], pattern_byte(0));
    EXPECT_EQ(counters().errors, 1u);
}

TEST_F(VhostUserBlkData, TheWriteCacheCanBeTurnedOffThroughSetConfig) {
    start();
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    constexpr std::uint32_t kWce = offsetof(pvsim::virtio::VirtioBlkConfig, wce);
    auto config_message = [](std::uint32_t offset, std::uint8_t value) {
        std::vector<std::byte> m(vu::kConfigHeaderSize + 1);
        const std::uint32_t header[3] = {offset, 1, vu::kConfigTypeFrontend};
        std::memcpy(m.data(), header, sizeof(header));
        m[vu::kConfigHeaderSize] = std::byte{value};
        return m;
    };
    // Writethrough; capacity is not writable.
    fe->send(vu::Request::set_config, config_message(kWce, 0), true);
    EXPECT_EQ(fe->ack(vu::Request::set_config), 0u);
    fe->send(vu::Request::set_config, config_message(0, 1), true);
    EXPECT_NE(fe->ack(vu::Request::set_config), 0u);
    std::vector<std::byte> get(vu::kConfigHeaderSize + 1);
    const std::uint32_t header[3] = {kWce, 1, 0};
    std::memcpy(get.data(), header, sizeof(header));
    fe->send(vu::Request::get_config, get);
    const auto reply = fe->receive();
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->payload.size(), get.size());
    EXPECT_EQ(reply->payload[vu::kConfigHeaderSize], std::byte{0});
    // Writes are still served (each followed by a flush).
    fe->start_queue(0);
    const BlkBuffers write = make_blk_request(fe->memory(), BlkReqType::out, 2, 512);
    std::memset(fe->memory().at(write.data), 0x11, 512);
    ASSERT_EQ(fe->run(0, write, false), kOk);
    EXPECT_EQ(image_bytes(2 * 512, 1)[0], 0x11);
}

TEST_F(VhostUserBlkData, ADisabledQueueTakesNothingUntilEnabledAgain) {
    start();
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    auto& q = fe->start_queue(0);
    ASSERT_EQ(fe->run(0, make_blk_request(fe->memory(), BlkReqType::in, 0, 512), true), kOk);
    fe->send_value(vu::Request::set_vring_enable, vu::VringState{0, 0}, true);
    ASSERT_EQ(fe->ack(vu::Request::set_vring_enable), 0u);
    const BlkBuffers read = make_blk_request(fe->memory(), BlkReqType::in, 1, 512);
    fe->submit(0, q.ring->write_chain(read.chain(true)));
    q.kick.signal();
    EXPECT_EQ(q.ring->view().used_idx(), 1u);  // the queue is stopped: not taken
    fe->send_value(vu::Request::set_vring_enable, vu::VringState{0, 1}, true);
    ASSERT_EQ(fe->ack(vu::Request::set_vring_enable), 0u);
    EXPECT_EQ(fe->wait_used(0, 1).size(), 1u);
    EXPECT_EQ(status_of(fe->memory(), read), kOk);
    EXPECT_EQ(counters().reads, 2u);
}

}  // namespace data_path_test
