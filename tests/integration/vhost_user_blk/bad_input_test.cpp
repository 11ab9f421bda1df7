// Bad vhost-user messages and malformed descriptor chains and queues: each
// reported (a nonzero REPLY_ACK, a status, a broken queue or a closed
// connection, and a counter), and survived: the server then still serves a
// well-formed front-end.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "server_fixture.hpp"

namespace {

using namespace pvsim::test;
using pvsim::virtio::BlkReqType;
using pvsim::virtio::BlkStatus;
using pvsim::virtio::VirtqDesc;
namespace vu = pvsim::vhost_user;

constexpr std::uint64_t kAllFeatures = ~std::uint64_t{0};
constexpr auto kOk = static_cast<std::uint8_t>(BlkStatus::ok);
constexpr auto kIoErr = static_cast<std::uint8_t>(BlkStatus::ioerr);
constexpr auto kUnsupp = static_cast<std::uint8_t>(BlkStatus::unsupp);

class VhostUserBlkBadInput : public ServerFixture {
  protected:
    // A whole well-formed session on a new connection, one read checked.
    void expect_a_new_front_end_is_served() {
        auto fe = connect();
        fe->negotiate(kAllFeatures);
        fe->start_queue(0);
        const BlkBuffers read = make_blk_request(fe->memory(), BlkReqType::in, 3, 512);
        ASSERT_EQ(fe->run(0, read, true), kOk);
        EXPECT_EQ(static_cast<std::uint8_t>(*fe->memory().at(read.data)), pattern_byte(3 * 512));
    }
};

TEST_F(VhostUserBlkBadInput, BadMessagesAreRefusedWithANonzeroAck) {
    start();
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    std::size_t refused = 0;
    auto expect_nack = [&](vu::Request request) {
        EXPECT_NE(fe->ack(request), 0u) << vu::name(request);
        ++refused;
    };
    // An unknown request.
    fe->send(static_cast<vu::Request>(200), {}, true);
    expect_nack(static_cast<vu::Request>(200));
    // A payload of the wrong size.
    const std::uint32_t four = 1;
    fe->send_value(vu::Request::set_features, four, true);
    expect_nack(vu::Request::set_features);
    // Features without VERSION_1, and features never offered.
    fe->send_value(vu::Request::set_features, std::uint64_t{0}, true);
    expect_nack(vu::Request::set_features);
    fe->send_value(vu::Request::set_features, std::uint64_t{1} << 63, true);
    expect_nack(vu::Request::set_features);
    // SET_VRING_KICK without its fd.
    fe->send_value(vu::Request::set_vring_kick, vu::vring_fd_payload(0, false), true);
    expect_nack(vu::Request::set_vring_kick);
    // A vring index out of range.
    fe->send_value(vu::Request::set_vring_num, vu::VringState{99, 64}, true);
    expect_nack(vu::Request::set_vring_num);
    // A queue size that is no power of two.
    fe->send_value(vu::Request::set_vring_num, vu::VringState{0, 100}, true);
    expect_nack(vu::Request::set_vring_num);
    // SET_VRING_ADDR outside the memory table.
    GuestQueue outside_ring(fe->memory(), 64);
    vu::VringAddr addr = fe->addr_of(0, outside_ring);
    addr.used_user_addr = fe->memory().user(fe->memory().size() - 64);
    fe->send_value(vu::Request::set_vring_addr, addr, true);
    expect_nack(vu::Request::set_vring_addr);
    // SET_MEM_TABLE with more regions than allowed, and without its fd.
    std::vector<std::byte> table(vu::kMemoryRegionsOffset + 8 * sizeof(vu::MemoryRegion));
    const std::uint32_t nine = 9;
    std::memcpy(table.data(), &nine, sizeof(nine));
    fe->send(vu::Request::set_mem_table, table, true);
    expect_nack(vu::Request::set_mem_table);
    std::vector<std::byte> one(vu::kMemoryRegionsOffset + sizeof(vu::MemoryRegion));
    const std::uint32_t count = 1;
    std::memcpy(one.data(), &count, sizeof(count));
    const vu::MemoryRegion region{0, fe->memory().size(), fe->memory().user(0), 0};
    std::memcpy(one.data() + vu::kMemoryRegionsOffset, &region, sizeof(region));
    fe->send(vu::Request::set_mem_table, one, true);
    expect_nack(vu::Request::set_mem_table);
    // A kick "fd" that is no eventfd.
    const int not_an_eventfd[] = {fe->memory().fd()};
    fe->send_value(vu::Request::set_vring_kick, vu::vring_fd_payload(0, false), true,
                   not_an_eventfd);
    expect_nack(vu::Request::set_vring_kick);
    EXPECT_EQ(counters().bad_messages, refused);

    // The same session still works.
    fe->start_queue(0);
    const BlkBuffers read = make_blk_request(fe->memory(), BlkReqType::in, 1, 512);
    EXPECT_EQ(fe->run(0, read, true), kOk);
    EXPECT_EQ(counters().protocol_violations, 0u);
}

TEST_F(VhostUserBlkBadInput, ProtocolViolationsCloseThatConnectionOnly) {
    start();
    {
        // A header version other than 1.
        auto fe = connect();
        fe->send(vu::Request::get_features, {}, false, {}, 0x2);
        EXPECT_TRUE(fe->closed_by_device());
    }
    {
        // A payload larger than any vhost-user message.
        auto fe = connect();
        vu::Header h{static_cast<std::uint32_t>(vu::Request::set_features), vu::request_flags(),
                     4096};
        ASSERT_EQ(::send(fe->fd(), &h, sizeof(h), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(h)));
        EXPECT_TRUE(fe->closed_by_device());
    }
    {
        // GET_VRING_BASE of a queue the device does not have: no answer can
        // be given.
        auto fe = connect();
        fe->negotiate(kAllFeatures);
        fe->send_value(vu::Request::get_vring_base, vu::VringState{42, 0});
        EXPECT_TRUE(fe->closed_by_device());
    }
    {
        // End of stream in the middle of a message.
        auto fe = connect();
        const std::uint32_t half = static_cast<std::uint32_t>(vu::Request::get_features);
        ASSERT_EQ(::send(fe->fd(), &half, sizeof(half), MSG_NOSIGNAL), 4);
        fe->close();
    }
    EXPECT_TRUE(eventually([&] { return counters().protocol_violations == 4; }));
    expect_a_new_front_end_is_served();
}

TEST_F(VhostUserBlkBadInput, MalformedChainsGetTheirStatusAndTheQueueGoesOn) {
    start();
    auto fe = connect();
    fe->negotiate(kAllFeatures);
    auto& q = fe->start_queue(0);
    GuestMemory& mem = fe->memory();

    // A loop: returned with nothing written (used len 0).
    const std::uint64_t hdr = make_blk_request(mem, BlkReqType::in, 0, 0).header;
    q.ring->view().set_desc(10, VirtqDesc{hdr, 16, pvsim::virtio::kDescFNext, 11});
    q.ring->view().set_desc(11, VirtqDesc{hdr, 16, pvsim::virtio::kDescFNext, 10});
    fe->submit(0, 10);
    auto used = fe->wait_used(0, 1);
    EXPECT_EQ(used.front().id, 10u);
    EXPECT_EQ(used.front().len, 0u);
    // A buffer outside the memory table.
    q.ring->view().set_desc(12, VirtqDesc{mem.size() + 4096, 16, pvsim::virtio::kDescFNext, 13});
    q.ring->view().set_desc(13, VirtqDesc{hdr, 1, pvsim::virtio::kDescFWrite, 0});
    fe->submit(0, 12);
    used = fe->wait_used(0, 1);
    EXPECT_EQ(used.front().len, 0u);
    // No status byte.
    const BlkBuffers no_status = make_blk_request(mem, BlkReqType::out, 0, 512);
    fe->submit(0,
               q.ring->write_chain({{no_status.header, 16, false}, {no_status.data, 512, false}}));
    used = fe->wait_used(0, 1);
    EXPECT_EQ(used.front().len, 0u);
    EXPECT_EQ(counters().malformed_chains, 3u);

    // Data in the wrong direction: IOERR; an unknown type: UNSUPP.
    EXPECT_EQ(fe->run(0, make_blk_request(mem, BlkReqType::in, 0, 512), false), kIoErr);
    EXPECT_EQ(fe->run(0, make_blk_request(mem, static_cast<BlkReqType>(77), 0, 0), false), kUnsupp);
    // Past the end of the disk: IOERR.
    EXPECT_EQ(fe->run(0, make_blk_request(mem, BlkReqType::in, kImageSize / 512, 512), true),
              kIoErr);

    // And the queue still serves.
    const BlkBuffers read = make_blk_request(mem, BlkReqType::in, 5, 512);
    EXPECT_EQ(fe->run(0, read, true), kOk);
    EXPECT_EQ(static_cast<std::uint8_t>(*mem.at(read.data)), pattern_byte(5 * 512));
    const auto c = counters();
    EXPECT_EQ(c.errors, 2u);
    EXPECT_EQ(c.unsupported, 1u);
    EXPECT_EQ(c.broken_queues, 0u);
}

TEST_F(VhostUserBlkBadInput, AMalformedQueueIsBrokenAndTheDeviceLivesOn) {
    start();
    {
        auto fe = connect();
        fe->negotiate(kAllFeatures);
        auto& q = fe->start_queue(0);
        // The avail index more than a queue ahead.
        q.ring->publish_raw_avail_idx(static_cast<std::uint16_t>(q.ring->size() + 5));
        q.kick.signal();
        EXPECT_TRUE(eventually([&] { return counters().broken_queues == 1; }));
    }
    {
        auto fe = connect();
        fe->negotiate(kAllFeatures);
        auto& q = fe->start_queue(0);
        // A head out of range.
        q.ring->set_avail_slot(0, q.ring->size());
        q.ring->publish_raw_avail_idx(1);
        q.kick.signal();
        EXPECT_TRUE(eventually([&] { return counters().broken_queues == 2; }));
        // GET_VRING_BASE still answers, with the entries taken.
        EXPECT_EQ(fe->get_vring_base(0), 0u);
    }
    expect_a_new_front_end_is_served();
}

TEST_F(VhostUserBlkBadInput, GetVringBaseStopsTheQueueAndAReconnectionResumes) {
    start();
    std::uint16_t base = 0;
    {
        auto fe = connect();
        fe->negotiate(kAllFeatures);
        fe->start_queue(0);
        for (int i = 0; i < 3; ++i) {
            ASSERT_EQ(fe->run(0, make_blk_request(fe->memory(), BlkReqType::in, i, 512), true),
                      kOk);
        }
        base = fe->get_vring_base(0);
        EXPECT_EQ(base, 3u);
        // Stopped: a request published now is not taken.
        auto& q = fe->queue(0);
        const BlkBuffers late = make_blk_request(fe->memory(), BlkReqType::in, 0, 512);
        fe->submit(0, q.ring->write_chain(late.chain(true)));
        q.kick.signal();
        EXPECT_EQ(q.ring->view().used_idx(), 3u);
    }
    // The front-end goes away (end of stream) and the server listens again.
    EXPECT_TRUE(eventually([&] { return !server_->connected(); }));
    expect_a_new_front_end_is_served();
    EXPECT_EQ(counters().connections, 2u);
}

TEST_F(VhostUserBlkBadInput, ASecondFrontEndIsRefusedAtOnceWhileTheFirstIsServed) {
    start();
    auto first = connect();
    first->negotiate(kAllFeatures);
    first->start_queue(0);
    // Accepted and closed, as QEMU's vu_accept drops a second client, not
    // left in the listen backlog.
    auto second = connect();
    EXPECT_TRUE(second->closed_by_device());
    EXPECT_TRUE(eventually([&] { return counters().refused_connections == 1; }));
    const BlkBuffers read = make_blk_request(first->memory(), BlkReqType::in, 5, 512);
    ASSERT_EQ(first->run(0, read, true), kOk);
    EXPECT_EQ(static_cast<std::uint8_t>(*first->memory().at(read.data)), pattern_byte(5 * 512));
    EXPECT_EQ(counters().connections, 1u);
    // Once the first is gone, the next one is served.
    first.reset();
    EXPECT_TRUE(eventually([&] { return !server_->connected(); }));
    expect_a_new_front_end_is_served();
}

}  // namespace
