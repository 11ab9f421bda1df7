// Device-independent feature bits and the device status byte.
#include <gtest/gtest.h>

#include <cstdint>

#include "common/virtio/features.hpp"

namespace {

namespace v = pvsim::virtio;

TEST(VirtioFeatures, MasksAndTests) {
    EXPECT_EQ(v::feature_mask(v::Feature::version_1), 1ull << 32);
    EXPECT_EQ(v::feature_mask(v::Feature::indirect_desc), 1ull << 28);
    EXPECT_EQ(v::feature_mask(v::Feature::event_idx), 1ull << 29);
    EXPECT_EQ(v::feature_mask(63), 1ull << 63);
    EXPECT_EQ(v::feature_mask(64), 0u);  // beyond a 64-bit feature word
    const std::uint64_t f =
        v::feature_mask(v::Feature::version_1) | v::feature_mask(v::Feature::event_idx);
    EXPECT_TRUE(v::has_feature(f, v::Feature::version_1));
    EXPECT_TRUE(v::has_feature(f, v::Feature::event_idx));
    EXPECT_FALSE(v::has_feature(f, v::Feature::indirect_desc));
    EXPECT_FALSE(v::has_feature(f, v::Feature::ring_packed));
    static_assert(v::has_feature(1ull << 34, v::Feature::ring_packed));
}

TEST(VirtioFeatures, Names) {
    EXPECT_EQ(v::feature_name(32), "VIRTIO_F_VERSION_1");
    EXPECT_EQ(v::feature_name(28), "VIRTIO_F_INDIRECT_DESC");
    EXPECT_EQ(v::feature_name(29), "VIRTIO_F_EVENT_IDX");
    EXPECT_EQ(v::feature_name(33), "VIRTIO_F_ACCESS_PLATFORM");
    EXPECT_EQ(v::feature_name(35), "VIRTIO_F_IN_ORDER");
    EXPECT_EQ(v::feature_name(40), "VIRTIO_F_RING_RESET");
    EXPECT_EQ(v::feature_name(30), "");  // unused by virtio (vhost-user borrows it)
    EXPECT_EQ(v::feature_name(9), "");   // device-specific
    EXPECT_EQ(v::feature_name(41), "");
}

TEST(VirtioFeatures, DeviceStatusBits) {
    namespace ds = v::device_status;
    // Initialisation order of §3.1.1 sets distinct bits.
    EXPECT_EQ(ds::kAcknowledge | ds::kDriver | ds::kFeaturesOk | ds::kDriverOk, 0x0f);
    EXPECT_EQ(ds::kNeedsReset, 0x40);
    EXPECT_EQ(ds::kFailed, 0x80);
}

}  // namespace
