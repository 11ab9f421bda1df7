// What a virtio driver and device negotiate before any queue runs: the
// device-independent ("reserved") feature bits of virtio 1.x §6 and the
// device status byte of §2.1. Device-specific bits (virtio-blk's) live with
// their device in virtio_blk.hpp.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

namespace pvsim::virtio {

// virtio 1.x stores every ring and config field little-endian (le16, le32,
// le64), and vhost-user sends numbers in the host's byte order. pvsim keeps
// them as native integers, which is the same thing only on little-endian
// hosts, so it supports no other.
static_assert(std::endian::native == std::endian::little,
              "virtio fields are little-endian; pvsim stores them natively");

// Feature bit *numbers* (not masks) of virtio 1.x §6 "Reserved Feature Bits".
// Linux (linux/virtio_config.h, linux/virtio_ring.h) spells the same bits
// VIRTIO_F_* and, for the two ring features, VIRTIO_RING_F_*.
enum class Feature : unsigned {
    notify_on_empty = 24,    // VIRTIO_F_NOTIFY_ON_EMPTY (legacy only)
    any_layout = 27,         // VIRTIO_F_ANY_LAYOUT (legacy; implied by VERSION_1)
    indirect_desc = 28,      // VIRTIO_F_INDIRECT_DESC (VIRTIO_RING_F_INDIRECT_DESC)
    event_idx = 29,          // VIRTIO_F_EVENT_IDX (VIRTIO_RING_F_EVENT_IDX)
    version_1 = 32,          // VIRTIO_F_VERSION_1
    access_platform = 33,    // VIRTIO_F_ACCESS_PLATFORM (formerly IOMMU_PLATFORM)
    ring_packed = 34,        // VIRTIO_F_RING_PACKED
    in_order = 35,           // VIRTIO_F_IN_ORDER
    order_platform = 36,     // VIRTIO_F_ORDER_PLATFORM
    sr_iov = 37,             // VIRTIO_F_SR_IOV
    notification_data = 38,  // VIRTIO_F_NOTIFICATION_DATA (virtio 1.1)
    notif_config_data = 39,  // VIRTIO_F_NOTIF_CONFIG_DATA (virtio 1.2)
    ring_reset = 40,         // VIRTIO_F_RING_RESET (virtio 1.2)
};

// Bits 28..40 are reserved for the transport and ring (VIRTIO_TRANSPORT_F_START
// and VIRTIO_TRANSPORT_F_END, the latter exclusive); a device type's own bits
// are 0..23 and 50..127 (§6). Bits 24..27 are legacy transport bits.
inline constexpr unsigned kTransportFeatureStart = 28;
inline constexpr unsigned kTransportFeatureEnd = 41;

// The single-bit mask of a feature number. Bit numbers >= 64 have no mask in
// the 64-bit feature words vhost-user and the legacy interface carry.
constexpr std::uint64_t feature_mask(unsigned bit) {
    return bit < 64 ? std::uint64_t{1} << bit : 0;
}
constexpr std::uint64_t feature_mask(Feature f) {
    return feature_mask(static_cast<unsigned>(f));
}
constexpr bool has_feature(std::uint64_t features, Feature f) {
    return (features & feature_mask(f)) != 0;
}

// Spec name ("VIRTIO_F_VERSION_1") of a device-independent feature bit, or
// an empty view when the bit is not one of them.
std::string_view feature_name(unsigned bit);

// Device status bits (virtio 1.x §2.1; linux/virtio_config.h
// VIRTIO_CONFIG_S_*). A driver sets them in this order during initialisation
// (§3.1.1); vhost-user carries the byte in SET_STATUS / GET_STATUS.
namespace device_status {
inline constexpr std::uint8_t kAcknowledge = 1;    // ACKNOWLEDGE
inline constexpr std::uint8_t kDriver = 2;         // DRIVER
inline constexpr std::uint8_t kDriverOk = 4;       // DRIVER_OK
inline constexpr std::uint8_t kFeaturesOk = 8;     // FEATURES_OK
inline constexpr std::uint8_t kNeedsReset = 0x40;  // DEVICE_NEEDS_RESET
inline constexpr std::uint8_t kFailed = 0x80;      // FAILED
}  // namespace device_status

}  // namespace pvsim::virtio
