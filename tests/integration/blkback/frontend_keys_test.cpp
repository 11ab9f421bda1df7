// Reading what the toolstack and the frontend wrote (vbd_config.hpp,
// frontend_ring_keys.hpp) from a real pvsim-xenstored: every value blkback
// cannot use is an error naming the node and the value.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "backend/blkback/frontend_ring_keys.hpp"
#include "backend/blkback/vbd_config.hpp"
#include "common/xen/node_values.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::backend::blkback {
namespace {

constexpr const char* kFront = "/local/domain/1/device/vbd/51712";
constexpr const char* kBack = "/local/domain/0/backend/vbd/1/51712";

class FrontendKeysTest : public ::testing::Test {
  protected:
    FrontendKeysTest() {
        client_.write(std::string(kFront) + "/ring-ref", "8");
        client_.write(std::string(kFront) + "/event-channel", "5");
        client_.write(std::string(kFront) + "/protocol", "x86_64-abi");
        client_.write(std::string(kBack) + "/params", "/tmp/disk.img");
        client_.write(std::string(kBack) + "/mode", "w");
    }
    void set(const std::string& key, const std::string& value) {
        client_.write(std::string(kFront) + "/" + key, value);
    }
    void set_back(const std::string& key, const std::string& value) {
        client_.write(std::string(kBack) + "/" + key, value);
    }
    // The NodeError message of reading the ring keys.
    std::string ring_error(int expected_errno) {
        try {
            (void)read_frontend_ring(client_, kFront);
        } catch (const xen::NodeError& e) {
            EXPECT_EQ(e.errnum(), expected_errno) << e.what();
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return {};
    }
    std::string config_error(int expected_errno, DeviceKind kind = DeviceKind::vbd) {
        try {
            (void)read_vbd_config(client_, kBack, kFront, kind);
        } catch (const xen::NodeError& e) {
            EXPECT_EQ(e.errnum(), expected_errno) << e.what();
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return {};
    }

    test::XenstoredProcess xenstored_;
    xenstore::client::Client client_ = xenstore::client::Client::connect(xenstored_.socket_path());
};

TEST_F(FrontendKeysTest, ReadsRingRefPortAndProtocol) {
    const FrontendRing ring = read_frontend_ring(client_, kFront);
    EXPECT_EQ(ring.ring_ref, 8u);
    EXPECT_EQ(ring.event_channel, 5u);
    EXPECT_EQ(ring.protocol, "x86_64-abi");
    EXPECT_FALSE(ring.persistent);
}

TEST_F(FrontendKeysTest, AMissingProtocolIsNativeAndRingPageOrderZeroUsesRingRef0) {
    client_.rm(std::string(kFront) + "/protocol");
    set("ring-page-order", "0");
    set("ring-ref0", "9");
    const FrontendRing ring = read_frontend_ring(client_, kFront);
    EXPECT_EQ(ring.protocol, "");
    EXPECT_EQ(ring.ring_ref, 9u);
}

// Linux 5.11+ read_per_ring_refs ("xen-blkback: fix compatibility bug with
// single page rings"): without ring-page-order the ring is "ring-ref" even
// when a stale "ring-ref0" of an earlier frontend is still there, and with
// ring-page-order 0 it is "ring-ref0" with no fallback to "ring-ref".
TEST_F(FrontendKeysTest, RingPageOrderAloneChoosesBetweenRingRefAndRingRef0) {
    set("ring-ref0", "9");
    EXPECT_EQ(read_frontend_ring(client_, kFront).ring_ref, 8u);
    set("ring-page-order", "0");
    client_.rm(std::string(kFront) + "/ring-ref0");
    EXPECT_NE(ring_error(EINVAL).find("ring-ref0: missing"), std::string::npos);
}

// Linux xen-blkback/xenbus.c connect_ring: x86_32-abi and x86_64-abi (the
// native one) are known and choose the ring's layout; any other protocol,
// e.g. XEN_IO_PROTO_ABI_ARM, is "unknown fe protocol %s" with -ENOSYS.
TEST_F(FrontendKeysTest, BothX86ProtocolsChooseTheLayoutAndAnyOtherIsRefused) {
    set("protocol", "x86_32-abi");
    EXPECT_EQ(read_frontend_ring(client_, kFront).abi, xen::BlkifProtocol::x86_32);
    set("protocol", "x86_64-abi");
    EXPECT_EQ(read_frontend_ring(client_, kFront).abi, xen::BlkifProtocol::x86_64);
    set("protocol", "arm-abi");
    EXPECT_NE(ring_error(ENOSYS).find("unknown fe protocol arm-abi"), std::string::npos);
}

TEST_F(FrontendKeysTest, BadOrMissingRingRefAndPortAreRefused) {
    set("ring-ref", "abc");
    EXPECT_NE(ring_error(EINVAL).find("ring-ref: 'abc'"), std::string::npos);
    set("ring-ref", "-1");
    EXPECT_NE(ring_error(EINVAL).find("'-1'"), std::string::npos);
    set("ring-ref", "8");
    set("event-channel", "4294967296");
    EXPECT_NE(ring_error(EINVAL).find("event-channel"), std::string::npos);
    client_.rm(std::string(kFront) + "/event-channel");
    EXPECT_NE(ring_error(EINVAL).find("event-channel: missing"), std::string::npos);
}

TEST_F(FrontendKeysTest, MoreRingPagesOrQueuesThanOfferedAreRefused) {
    set("ring-page-order", "2");
    EXPECT_NE(ring_error(EINVAL).find("ring page order exceed max:0"), std::string::npos);
    client_.rm(std::string(kFront) + "/ring-page-order");
    set("multi-queue-num-queues", "4");
    EXPECT_NE(ring_error(ENOSYS).find("requested 4 queues"), std::string::npos);
    set("multi-queue-num-queues", "0");
    EXPECT_NE(ring_error(ENOSYS).find("requested 0 queues"), std::string::npos);
}

TEST_F(FrontendKeysTest, QueuesOfMultiPageRingsAreReadUpToTheOffer) {
    set("multi-queue-num-queues", "2");
    set("ring-page-order", "1");
    for (const std::string queue : {"queue-0", "queue-1"}) {
        set(queue + "/ring-ref0", queue == "queue-0" ? "10" : "20");
        set(queue + "/ring-ref1", queue == "queue-0" ? "11" : "21");
        set(queue + "/event-channel", queue == "queue-0" ? "6" : "7");
    }
    const FrontendRing ring = read_frontend_ring(client_, kFront, RingOffer{1, 2});
    ASSERT_EQ(ring.queues.size(), 2u);
    EXPECT_EQ(ring.ring_page_order, 1u);
    EXPECT_EQ(ring.queues[0].ring_refs, (std::vector<xen::GrantRef>{10, 11}));
    EXPECT_EQ(ring.queues[1].ring_refs, (std::vector<xen::GrantRef>{20, 21}));
    EXPECT_EQ(ring.queues[1].event_channel, 7u);
    client_.rm(std::string(kFront) + "/queue-1/ring-ref1");
    try {
        (void)read_frontend_ring(client_, kFront, RingOffer{1, 2});
        ADD_FAILURE() << "no error";
    } catch (const xen::NodeError& e) {
        EXPECT_NE(std::string(e.what()).find("queue-1/ring-ref1: missing"), std::string::npos);
    }
}

TEST_F(FrontendKeysTest, TheFeatureConfigurationIsReadAndABadNodeNamed) {
    const VbdConfig config = read_vbd_config(client_, kBack, kFront);
    EXPECT_EQ(config.features.max_indirect_segments, 256u);
    EXPECT_EQ(config.features.max_ring_page_order, 4u);
    set_back("pvsim-grant-mode", "copy");
    set_back("pvsim-max-indirect-segments", "0");
    const VbdConfig copy = read_vbd_config(client_, kBack, kFront);
    EXPECT_EQ(copy.features.grant_mode, xen::BlkifGrantMode::copy);
    EXPECT_EQ(copy.features.max_indirect_segments, 0u);
    set_back("pvsim-max-queues", "99");
    EXPECT_NE(config_error(EINVAL).find("pvsim-max-queues"), std::string::npos);
}

TEST_F(FrontendKeysTest, TheVbdConfigurationHasDefaults) {
    const VbdConfig config = read_vbd_config(client_, kBack, kFront);
    EXPECT_EQ(config.params, "/tmp/disk.img");
    EXPECT_FALSE(config.read_only);
    EXPECT_FALSE(config.direct);
    EXPECT_EQ(config.poll_us, kDefaultPollUs);
    EXPECT_FALSE(config.cdrom);
    set_back("mode", "r");
    set_back("direct", "1");
    set_back("poll-us", "0");
    set("device-type", "cdrom");
    const VbdConfig other = read_vbd_config(client_, kBack, kFront);
    EXPECT_TRUE(other.read_only);
    EXPECT_TRUE(other.direct);
    EXPECT_EQ(other.poll_us.count(), 0);
    EXPECT_TRUE(other.cdrom);
}

TEST_F(FrontendKeysTest, BadVbdConfigurationIsRefusedNamingIt) {
    set_back("poll-us", "fast");
    EXPECT_NE(config_error(EINVAL).find("poll-us 'fast'"), std::string::npos);
    set_back("poll-us", "50");
    set_back("direct", "yes");
    EXPECT_NE(config_error(EINVAL).find("direct 'yes'"), std::string::npos);
    set_back("direct", "0");
    client_.rm(std::string(kBack) + "/mode");
    EXPECT_NE(config_error(ENOENT).find("mode"), std::string::npos);
    set_back("mode", "w");
    // blkback never reads params (it opens physical-device); QEMU's
    // xen-block cannot do without it.
    client_.rm(std::string(kBack) + "/params");
    EXPECT_EQ(read_vbd_config(client_, kBack, kFront).params, "");
    EXPECT_NE(config_error(ENOENT, DeviceKind::qdisk).find("params"), std::string::npos);
}

TEST_F(FrontendKeysTest, AQdiskOpensTheImageItsParamsNameAndHonoursDirectIoSafe) {
    set_back("params", "raw:/tmp/disk.img");
    set_back("direct-io-safe", "1");
    const VbdConfig qdisk = read_vbd_config(client_, kBack, kFront, DeviceKind::qdisk);
    EXPECT_EQ(qdisk.params, "/tmp/disk.img");
    EXPECT_TRUE(qdisk.direct);
    // Linux's blkback ignores direct-io-safe.
    EXPECT_FALSE(read_vbd_config(client_, kBack, kFront, DeviceKind::vbd).direct);
    EXPECT_EQ(qdisk_image_path("aio:/a:b"), "/a:b");
    EXPECT_EQ(qdisk_image_path("/plain"), "/plain");
    set_back("params", "qcow2:/tmp/disk.qcow2");
    EXPECT_NE(config_error(ENOSYS, DeviceKind::qdisk).find("format 'qcow2'"), std::string::npos);
    set_back("params", "raw:");
    EXPECT_NE(config_error(EINVAL, DeviceKind::qdisk).find("names no image"), std::string::npos);
}

TEST_F(FrontendKeysTest, TheFrontendIsNamedByPathAndDomid) {
    EXPECT_FALSE(read_frontend(client_, kBack));
    set_back("frontend", kFront);
    EXPECT_FALSE(read_frontend(client_, kBack));
    set_back("frontend-id", "1");
    const auto other = read_frontend(client_, kBack);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->path, kFront);
    EXPECT_EQ(other->domid, 1u);
    set_back("frontend-id", "65535");
    EXPECT_THROW((void)read_frontend(client_, kBack), xen::NodeError);
}

}  // namespace
}  // namespace pvsim::backend::blkback
