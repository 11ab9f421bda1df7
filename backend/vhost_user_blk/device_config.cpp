#include "backend/vhost_user_blk/device_config.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/virtio/vhost_user.hpp"
#include "common/virtio/virtqueue.hpp"

namespace pvsim::backend::vhost_user_blk {

using virtio::BlkFeature;
using virtio::Feature;

void validate(const DeviceOptions& options) {
    if (options.num_queues < 1 || options.num_queues > kMaxQueues) {
        throw std::invalid_argument("num-queues " + std::to_string(options.num_queues) +
                                    " is out of range (1.." + std::to_string(kMaxQueues) + ")");
    }
    // Two descriptors of every chain are the header and the status (seg_max
    // = queue size - 2), so a queue must hold at least three.
    if (!virtio::is_valid_queue_size(options.queue_size) || options.queue_size < 4) {
        throw std::invalid_argument("queue-size " + std::to_string(options.queue_size) +
                                    " is not a power of two from 4 to " +
                                    std::to_string(virtio::kMaxQueueSize));
    }
    if (options.poll_max.count() < 0) {
        throw std::invalid_argument("poll-us may not be negative");
    }
}

std::uint64_t DeviceConfig::protocol_features() noexcept {
    using vhost_user::ProtocolFeature;
    // Never INFLIGHT_SHMFD (the contract): a restarted device does not
    // resubmit what the last one had in flight.
    return vhost_user::protocol_feature_mask(ProtocolFeature::mq) |
           vhost_user::protocol_feature_mask(ProtocolFeature::reply_ack) |
           vhost_user::protocol_feature_mask(ProtocolFeature::config);
}

DeviceConfig DeviceConfig::describe(const storage::BackingStore& store,
                                    const DeviceOptions& options) {
    validate(options);
    DeviceConfig d;
    d.num_queues_ = options.num_queues;
    d.max_queue_size_ = options.queue_size;
    const bool read_only = options.read_only || store.read_only();

    d.features_ =
        virtio::feature_mask(Feature::version_1) | virtio::feature_mask(Feature::event_idx) |
        virtio::feature_mask(Feature::indirect_desc) | virtio::feature_mask(BlkFeature::flush) |
        virtio::feature_mask(BlkFeature::seg_max) | virtio::feature_mask(BlkFeature::blk_size) |
        virtio::feature_mask(BlkFeature::mq) | virtio::feature_mask(BlkFeature::config_wce) |
        virtio::feature_mask(vhost_user::kFProtocolFeatures);
    if (read_only) {
        d.features_ |= virtio::feature_mask(BlkFeature::ro);
    } else if (store.discard_supported()) {
        d.features_ |= virtio::feature_mask(BlkFeature::discard) |
                       virtio::feature_mask(BlkFeature::write_zeroes);
    }

    BlkLimits& l = d.limits_;
    l.capacity_sectors = store.sectors();
    l.read_only = read_only;
    l.seg_max = options.queue_size - 2;
    l.discard_sector_alignment =
        std::max<std::uint32_t>(1, store.discard_granularity() / storage::kSectorSize);

    virtio::VirtioBlkConfig& c = d.config_;
    c.capacity = store.sectors();
    c.seg_max = l.seg_max;
    c.blk_size = store.logical_sector_size();
    c.wce = store.write_cache() ? 1 : 0;
    c.num_queues = static_cast<std::uint16_t>(options.num_queues);
    c.max_discard_sectors = l.max_discard_sectors;
    c.max_discard_seg = l.max_discard_seg;
    c.discard_sector_alignment = l.discard_sector_alignment;
    c.max_write_zeroes_sectors = l.max_write_zeroes_sectors;
    c.max_write_zeroes_seg = l.max_write_zeroes_seg;
    c.write_zeroes_may_unmap = 1;

    // GET_ID: the image's name, as QEMU answers with the drive's serial.
    d.serial_ = store.path().filename().string().substr(0, virtio::kBlkIdBytes);
    return d;
}

}  // namespace pvsim::backend::vhost_user_blk
