// Every number pvsim's virtio ABI defines against the macro of the same
// meaning in Linux's uapi headers, both ways round: each real macro has a
// pvsim counterpart with its value, and each pvsim constant that a header
// defines is there.
#include <gtest/gtest.h>

#include <map>
#include <span>
#include <string>

#include "common/virtio/features.hpp"
#include "common/virtio/vhost_user.hpp"
#include "common/virtio/virtio_blk.hpp"
#include "common/virtio/virtqueue.hpp"
#include "real_virtio.h"

namespace {

namespace v = pvsim::virtio;
namespace vu = pvsim::vhost_user;

struct Ours {
    long long value;
    // Newer than some linux-libc-dev releases (virtio 1.1/1.2 additions):
    // compared when this machine's header has the macro, not required.
    bool optional = false;
};

long long bit(v::Feature f) {
    return static_cast<long long>(f);
}
long long bit(v::BlkFeature f) {
    return static_cast<long long>(f);
}
long long value(v::BlkReqType t) {
    return static_cast<long long>(t);
}
long long value(v::BlkStatus s) {
    return static_cast<long long>(s);
}

std::map<std::string, Ours> our_constants() {
    namespace ds = v::device_status;
    return {
        // linux/virtio_ring.h
        {"VRING_DESC_F_NEXT", {v::kDescFNext}},
        {"VRING_DESC_F_WRITE", {v::kDescFWrite}},
        {"VRING_DESC_F_INDIRECT", {v::kDescFIndirect}},
        {"VRING_USED_F_NO_NOTIFY", {v::kUsedFNoNotify}},
        {"VRING_AVAIL_F_NO_INTERRUPT", {v::kAvailFNoInterrupt}},
        {"VIRTIO_RING_F_INDIRECT_DESC", {bit(v::Feature::indirect_desc)}},
        {"VIRTIO_RING_F_EVENT_IDX", {bit(v::Feature::event_idx)}},
        {"VRING_AVAIL_ALIGN_SIZE", {static_cast<long long>(v::kAvailRingAlign)}},
        {"VRING_USED_ALIGN_SIZE", {static_cast<long long>(v::kUsedRingAlign)}},
        {"VRING_DESC_ALIGN_SIZE", {static_cast<long long>(v::kDescTableAlign)}},
        // linux/virtio_config.h
        {"VIRTIO_CONFIG_S_ACKNOWLEDGE", {ds::kAcknowledge}},
        {"VIRTIO_CONFIG_S_DRIVER", {ds::kDriver}},
        {"VIRTIO_CONFIG_S_DRIVER_OK", {ds::kDriverOk}},
        {"VIRTIO_CONFIG_S_FEATURES_OK", {ds::kFeaturesOk}},
        {"VIRTIO_CONFIG_S_NEEDS_RESET", {ds::kNeedsReset}},
        {"VIRTIO_CONFIG_S_FAILED", {ds::kFailed}},
        {"VIRTIO_TRANSPORT_F_START", {v::kTransportFeatureStart}},
        {"VIRTIO_TRANSPORT_F_END", {v::kTransportFeatureEnd}},
        {"VIRTIO_F_NOTIFY_ON_EMPTY", {bit(v::Feature::notify_on_empty)}},
        {"VIRTIO_F_ANY_LAYOUT", {bit(v::Feature::any_layout)}},
        {"VIRTIO_F_VERSION_1", {bit(v::Feature::version_1)}},
        {"VIRTIO_F_ACCESS_PLATFORM", {bit(v::Feature::access_platform)}},
        {"VIRTIO_F_RING_PACKED", {bit(v::Feature::ring_packed)}},
        {"VIRTIO_F_IN_ORDER", {bit(v::Feature::in_order)}},
        {"VIRTIO_F_ORDER_PLATFORM", {bit(v::Feature::order_platform)}},
        {"VIRTIO_F_SR_IOV", {bit(v::Feature::sr_iov)}},
        {"VIRTIO_F_NOTIFICATION_DATA", {bit(v::Feature::notification_data), true}},
        {"VIRTIO_F_NOTIF_CONFIG_DATA", {bit(v::Feature::notif_config_data), true}},
        {"VIRTIO_F_RING_RESET", {bit(v::Feature::ring_reset)}},
        // linux/virtio_ids.h
        {"VIRTIO_ID_BLOCK", {v::kVirtioIdBlock}},
        // linux/virtio_blk.h
        {"VIRTIO_BLK_F_SIZE_MAX", {bit(v::BlkFeature::size_max)}},
        {"VIRTIO_BLK_F_SEG_MAX", {bit(v::BlkFeature::seg_max)}},
        {"VIRTIO_BLK_F_GEOMETRY", {bit(v::BlkFeature::geometry)}},
        {"VIRTIO_BLK_F_RO", {bit(v::BlkFeature::ro)}},
        {"VIRTIO_BLK_F_BLK_SIZE", {bit(v::BlkFeature::blk_size)}},
        {"VIRTIO_BLK_F_TOPOLOGY", {bit(v::BlkFeature::topology)}},
        {"VIRTIO_BLK_F_MQ", {bit(v::BlkFeature::mq)}},
        {"VIRTIO_BLK_F_DISCARD", {bit(v::BlkFeature::discard)}},
        {"VIRTIO_BLK_F_WRITE_ZEROES", {bit(v::BlkFeature::write_zeroes)}},
        {"VIRTIO_BLK_F_LIFETIME", {bit(v::BlkFeature::lifetime), true}},
        {"VIRTIO_BLK_F_SECURE_ERASE", {bit(v::BlkFeature::secure_erase)}},
        {"VIRTIO_BLK_F_BARRIER", {bit(v::BlkFeature::barrier)}},
        {"VIRTIO_BLK_F_SCSI", {bit(v::BlkFeature::scsi)}},
        {"VIRTIO_BLK_F_FLUSH", {bit(v::BlkFeature::flush)}},
        {"VIRTIO_BLK_F_CONFIG_WCE", {bit(v::BlkFeature::config_wce)}},
        {"VIRTIO_BLK_ID_BYTES", {static_cast<long long>(v::kBlkIdBytes)}},
        {"VIRTIO_BLK_T_IN", {value(v::BlkReqType::in)}},
        {"VIRTIO_BLK_T_OUT", {value(v::BlkReqType::out)}},
        {"VIRTIO_BLK_T_FLUSH", {value(v::BlkReqType::flush)}},
        {"VIRTIO_BLK_T_GET_ID", {value(v::BlkReqType::get_id)}},
        {"VIRTIO_BLK_T_GET_LIFETIME", {value(v::BlkReqType::get_lifetime), true}},
        {"VIRTIO_BLK_T_DISCARD", {value(v::BlkReqType::discard)}},
        {"VIRTIO_BLK_T_WRITE_ZEROES", {value(v::BlkReqType::write_zeroes)}},
        {"VIRTIO_BLK_T_SECURE_ERASE", {value(v::BlkReqType::secure_erase)}},
        {"VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP", {v::kBlkWriteZeroesFlagUnmap}},
        {"VIRTIO_BLK_S_OK", {value(v::BlkStatus::ok)}},
        {"VIRTIO_BLK_S_IOERR", {value(v::BlkStatus::ioerr)}},
        {"VIRTIO_BLK_S_UNSUPP", {value(v::BlkStatus::unsupp)}},
        // linux/vhost_types.h
        {"VHOST_VRING_F_LOG", {vu::kVringFLog}},
        {"VHOST_F_LOG_ALL", {vu::kFLogAll}},
        {"VHOST_ACCESS_RO", {vu::kAccessRo}},
        {"VHOST_ACCESS_WO", {vu::kAccessWo}},
        {"VHOST_ACCESS_RW", {vu::kAccessRw}},
        {"VHOST_IOTLB_MISS", {vu::kIotlbMiss}},
        {"VHOST_IOTLB_UPDATE", {vu::kIotlbUpdate}},
        {"VHOST_IOTLB_INVALIDATE", {vu::kIotlbInvalidate}},
        {"VHOST_IOTLB_ACCESS_FAIL", {vu::kIotlbAccessFail}},
    };
}

TEST(ConstantsConformance, EveryRealMacroHasOurValue) {
    const auto ours = our_constants();
    auto real = std::span(real_virtio_constants, real_virtio_constants_count);
    ASSERT_GE(real.size(), 60u);
    for (const auto& c : real) {
        auto it = ours.find(c.name);
        ASSERT_NE(it, ours.end()) << "no pvsim counterpart for " << c.name;
        EXPECT_EQ(it->second.value, c.value) << c.name;
    }
}

TEST(ConstantsConformance, EveryOurConstantIsInTheHeadersUnlessNewerThanThem) {
    std::map<std::string, long long> real;
    for (const auto& c : std::span(real_virtio_constants, real_virtio_constants_count)) {
        real.emplace(c.name, c.value);
    }
    for (const auto& [name, ours] : our_constants()) {
        if (!ours.optional) {
            EXPECT_TRUE(real.contains(name)) << name << " missing from the real headers";
        }
    }
}

}  // namespace
