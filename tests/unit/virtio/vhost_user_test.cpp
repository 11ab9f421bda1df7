// vhost-user header flags, message names and payload layouts as
// docs/interop/vhost-user.rst describes them.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "common/virtio/vhost_user.hpp"

namespace {

namespace vu = pvsim::vhost_user;

TEST(VhostUserHeader, FlagsCarryVersionReplyAndNeedReply) {
    EXPECT_EQ(vu::request_flags(), 0x1u);
    EXPECT_EQ(vu::request_flags(true), 0x9u);
    EXPECT_EQ(vu::reply_flags(), 0x5u);

    EXPECT_TRUE(vu::has_supported_version(0x1));
    EXPECT_TRUE(vu::has_supported_version(0x5 | 0x8));
    EXPECT_FALSE(vu::has_supported_version(0x0));
    EXPECT_FALSE(vu::has_supported_version(0x2));
    EXPECT_FALSE(vu::has_supported_version(0x3));
    EXPECT_EQ(vu::flags_version(0xfffffff1), 1u);

    EXPECT_TRUE(vu::is_reply(vu::reply_flags()));
    EXPECT_FALSE(vu::is_reply(vu::request_flags(true)));
    EXPECT_TRUE(vu::needs_reply(vu::request_flags(true)));
    EXPECT_FALSE(vu::needs_reply(vu::request_flags()));
    EXPECT_FALSE(vu::needs_reply(vu::reply_flags()));
}

TEST(VhostUserHeader, IsTwelveBytesInWireOrder) {
    const vu::Header h{static_cast<std::uint32_t>(vu::Request::set_vring_num),
                       vu::request_flags(true), sizeof(vu::VringState)};
    unsigned char bytes[vu::kHeaderSize];
    std::memcpy(bytes, &h, sizeof bytes);
    const unsigned char expected[] = {8, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0};
    EXPECT_EQ(std::memcmp(bytes, expected, sizeof expected), 0);
    EXPECT_EQ(offsetof(vu::Header, flags), 4u);
    EXPECT_EQ(offsetof(vu::Header, size), 8u);
}

TEST(VhostUserRequest, EveryFrontEndRequestHasItsSpecName) {
    EXPECT_EQ(vu::name(vu::Request::get_features), "VHOST_USER_GET_FEATURES");
    EXPECT_EQ(vu::name(vu::Request::set_mem_table), "VHOST_USER_SET_MEM_TABLE");
    EXPECT_EQ(vu::name(vu::Request::set_vring_kick), "VHOST_USER_SET_VRING_KICK");
    EXPECT_EQ(vu::name(vu::Request::set_backend_req_fd), "VHOST_USER_SET_BACKEND_REQ_FD");
    EXPECT_EQ(vu::name(vu::Request::get_status), "VHOST_USER_GET_STATUS");
    EXPECT_EQ(vu::name(vu::Request::check_device_state), "VHOST_USER_CHECK_DEVICE_STATE");
    EXPECT_EQ(vu::name(vu::Request::none), "VHOST_USER_NONE");
    EXPECT_EQ(vu::name(static_cast<vu::Request>(44)), "VHOST_USER_UNKNOWN");
    EXPECT_EQ(vu::name(static_cast<vu::Request>(0xffffffff)), "VHOST_USER_UNKNOWN");

    // 1..43 are all defined, each with its own name.
    std::set<std::string> names;
    for (std::uint32_t id = 1; id <= 43; ++id) {
        const auto n = vu::name(static_cast<vu::Request>(id));
        EXPECT_NE(n, "VHOST_USER_UNKNOWN") << id;
        names.emplace(n);
    }
    EXPECT_EQ(names.size(), 43u);
}

TEST(VhostUserRequest, NumbersAreTheSpecIds) {
    EXPECT_EQ(static_cast<int>(vu::Request::set_owner), 3);
    EXPECT_EQ(static_cast<int>(vu::Request::set_vring_addr), 9);
    EXPECT_EQ(static_cast<int>(vu::Request::get_vring_base), 11);
    EXPECT_EQ(static_cast<int>(vu::Request::get_protocol_features), 15);
    EXPECT_EQ(static_cast<int>(vu::Request::set_vring_enable), 18);
    EXPECT_EQ(static_cast<int>(vu::Request::get_config), 24);
    EXPECT_EQ(static_cast<int>(vu::Request::get_inflight_fd), 31);
    EXPECT_EQ(static_cast<int>(vu::Request::vring_kick), 35);
    EXPECT_EQ(static_cast<int>(vu::Request::add_mem_reg), 37);
    EXPECT_EQ(static_cast<int>(vu::Request::set_status), 39);
}

TEST(VhostUserRequest, BackendRequestsHaveTheirOwnNames) {
    EXPECT_EQ(vu::name(vu::BackendRequest::config_change_msg),
              "VHOST_USER_BACKEND_CONFIG_CHANGE_MSG");
    EXPECT_EQ(vu::name(vu::BackendRequest::vring_call), "VHOST_USER_BACKEND_VRING_CALL");
    EXPECT_EQ(vu::name(vu::BackendRequest::shared_object_lookup),
              "VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP");
    EXPECT_EQ(vu::name(static_cast<vu::BackendRequest>(9)), "VHOST_USER_BACKEND_UNKNOWN");
    EXPECT_EQ(static_cast<int>(vu::BackendRequest::vring_host_notifier_msg), 3);
}

TEST(VhostUserFeatures, ProtocolFeatureBitsAndNames) {
    EXPECT_EQ(vu::protocol_feature_mask(vu::ProtocolFeature::mq), 0x1u);
    EXPECT_EQ(vu::protocol_feature_mask(vu::ProtocolFeature::reply_ack), 0x8u);
    EXPECT_EQ(vu::protocol_feature_mask(vu::ProtocolFeature::config), 0x200u);
    EXPECT_EQ(vu::protocol_feature_mask(vu::ProtocolFeature::status), 0x10000u);
    const std::uint64_t offered = vu::protocol_feature_mask(vu::ProtocolFeature::reply_ack) |
                                  vu::protocol_feature_mask(vu::ProtocolFeature::config);
    EXPECT_TRUE(vu::has_protocol_feature(offered, vu::ProtocolFeature::config));
    EXPECT_FALSE(vu::has_protocol_feature(offered, vu::ProtocolFeature::inflight_shmfd));

    EXPECT_EQ(vu::name(vu::ProtocolFeature::backend_req), "VHOST_USER_PROTOCOL_F_BACKEND_REQ");
    EXPECT_EQ(vu::name(vu::ProtocolFeature::configure_mem_slots),
              "VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS");
    EXPECT_EQ(vu::name(static_cast<vu::ProtocolFeature>(20)), "");
    std::set<std::string> names;
    for (unsigned bit = 0; bit <= 19; ++bit) {
        const auto n = vu::name(static_cast<vu::ProtocolFeature>(bit));
        EXPECT_FALSE(n.empty()) << bit;
        names.emplace(n);
    }
    EXPECT_EQ(names.size(), 20u);
    EXPECT_EQ(vu::kFProtocolFeatures, 30u);
}

TEST(VhostUserPayload, VringFdPayloadPacksIndexAndNoFdFlag) {
    EXPECT_EQ(vu::vring_fd_payload(0, false), 0x000u);
    EXPECT_EQ(vu::vring_fd_payload(3, true), 0x103u);
    EXPECT_EQ(vu::vring_fd_payload(0xff, false), 0xffu);
    EXPECT_EQ(vu::vring_fd_index(0x103), 3u);
    EXPECT_TRUE(vu::vring_fd_absent(0x103));
    EXPECT_FALSE(vu::vring_fd_absent(0x003));
    // Bits above 8 are not part of the index.
    EXPECT_EQ(vu::vring_fd_index(0xfffffffffffffe07ull), 7u);
    for (std::uint32_t i = 0; i < 256; ++i) {
        EXPECT_EQ(vu::vring_fd_index(vu::vring_fd_payload(i, true)), i);
    }
}

TEST(VhostUserPayload, LayoutsAreTheSpecTables) {
    EXPECT_EQ(sizeof(vu::VringState), 8u);
    EXPECT_EQ(offsetof(vu::VringAddr, desc_user_addr), 8u);
    EXPECT_EQ(offsetof(vu::VringAddr, used_user_addr), 16u);  // used before available
    EXPECT_EQ(offsetof(vu::VringAddr, avail_user_addr), 24u);
    EXPECT_EQ(offsetof(vu::VringAddr, log_guest_addr), 32u);
    EXPECT_EQ(offsetof(vu::MemoryRegion, mmap_offset), 24u);
    EXPECT_EQ(offsetof(vu::Memory, regions), vu::kMemoryRegionsOffset);
    EXPECT_EQ(sizeof(vu::Memory), 8u + 8u * 32u);
    EXPECT_EQ(offsetof(vu::MemRegMsg, region), 8u);
    EXPECT_EQ(offsetof(vu::Config, region), vu::kConfigHeaderSize);
    EXPECT_EQ(sizeof(vu::Config), 12u + 256u);
    EXPECT_EQ(offsetof(vu::Inflight, num_queues), 16u);
    EXPECT_EQ(offsetof(vu::Inflight, queue_size), 18u);
    EXPECT_EQ(sizeof(vu::Inflight), 24u);
    EXPECT_EQ(offsetof(vu::IotlbMsg, perm), 24u);
    EXPECT_EQ(offsetof(vu::IotlbMsg, type), 25u);
    EXPECT_EQ(sizeof(vu::VringArea), 24u);
    EXPECT_EQ(sizeof(vu::Log), 16u);
}

TEST(VhostUserPayload, MaxPayloadHoldsEveryPayload) {
    EXPECT_EQ(vu::kMaxPayloadSize, 268u);
    for (std::size_t s :
         {sizeof(std::uint64_t), sizeof(vu::VringState), sizeof(vu::VringAddr), sizeof(vu::Memory),
          sizeof(vu::MemRegMsg), sizeof(vu::Log), sizeof(vu::IotlbMsg), sizeof(vu::Config),
          sizeof(vu::VringArea), sizeof(vu::Inflight)}) {
        EXPECT_LE(s, vu::kMaxPayloadSize);
    }
}

}  // namespace
