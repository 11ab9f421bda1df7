#include "frontend/virtio_blk/negotiate.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "common/virtio/vhost_user.hpp"

namespace pvsim::frontend::virtio_blk {
namespace {

using virtio::BlkFeature;
using virtio::Feature;

}  // namespace

std::uint64_t driver_features() noexcept {
    return virtio::feature_mask(Feature::version_1) | virtio::feature_mask(Feature::event_idx) |
           virtio::feature_mask(Feature::indirect_desc) | virtio::feature_mask(BlkFeature::flush) |
           virtio::feature_mask(BlkFeature::discard) |
           virtio::feature_mask(BlkFeature::write_zeroes) | virtio::feature_mask(BlkFeature::mq) |
           virtio::feature_mask(BlkFeature::blk_size) | virtio::feature_mask(BlkFeature::seg_max) |
           virtio::feature_mask(BlkFeature::size_max) | virtio::feature_mask(BlkFeature::ro) |
           virtio::feature_mask(BlkFeature::config_wce);
}

std::uint64_t select_features(std::uint64_t offered) {
    if (!virtio::has_feature(offered, Feature::version_1)) {
        throw std::runtime_error("the device does not offer VIRTIO_F_VERSION_1 (offers " +
                                 virtio::describe_blk_features(offered) +
                                 "); legacy devices are not supported");
    }
    std::uint64_t features = offered & driver_features();
    const std::uint64_t protocol = virtio::feature_mask(vhost_user::kFProtocolFeatures);
    if ((offered & protocol) != 0) {
        features |= protocol;
    }
    return features;
}

std::uint64_t select_protocol_features(std::uint64_t offered) noexcept {
    using vhost_user::ProtocolFeature;
    return offered & (vhost_user::protocol_feature_mask(ProtocolFeature::mq) |
                      vhost_user::protocol_feature_mask(ProtocolFeature::reply_ack) |
                      vhost_user::protocol_feature_mask(ProtocolFeature::config));
}

DiskConfig read_disk_config(std::span<const std::byte> config, std::uint64_t features,
                            std::size_t max_chain) {
    if (config.size() < offsetof(virtio::VirtioBlkConfig, max_discard_sectors)) {
        throw std::runtime_error("config space of " + std::to_string(config.size()) +
                                 " bytes is too short for virtio_blk_config");
    }
    virtio::VirtioBlkConfig raw{};
    std::memcpy(&raw, config.data(), std::min(config.size(), sizeof(raw)));

    DiskConfig disk;
    disk.features = features;
    disk.capacity = raw.capacity;
    if (virtio::has_feature(features, BlkFeature::blk_size)) {
        // Linux virtblk_probe: a logical block size the block layer can use.
        if (raw.blk_size < 512 || raw.blk_size > 4096 || !std::has_single_bit(raw.blk_size)) {
            throw std::runtime_error("blk_size " + std::to_string(raw.blk_size) +
                                     " is not a power of two from 512 to 4096");
        }
        disk.sector_size = raw.blk_size;
    }
    disk.read_only = virtio::has_feature(features, BlkFeature::ro);
    disk.flush = virtio::has_feature(features, BlkFeature::flush);
    // virtblk_get_cache_mode: CONFIG_WCE says in `wce`; else FLUSH means
    // writeback.
    disk.writeback =
        virtio::has_feature(features, BlkFeature::config_wce) ? raw.wce != 0 : disk.flush;
    disk.discard = virtio::has_feature(features, BlkFeature::discard);
    if (virtio::has_feature(features, BlkFeature::mq)) {
        if (raw.num_queues == 0) {
            throw std::runtime_error("VIRTIO_BLK_F_MQ with num_queues 0");
        }
        disk.device_queues = raw.num_queues;
    }

    // The chain is header + data + status (+ the discard range instead of
    // data): seg_max counts data descriptors only, as in Linux.
    const auto chain_room = static_cast<std::uint32_t>(max_chain > 2 ? max_chain - 2 : 1);
    std::uint32_t segments = 1;  // "at least one SG element, whatever they say"
    if (virtio::has_feature(features, BlkFeature::seg_max) && raw.seg_max != 0) {
        segments = raw.seg_max;
    }
    disk.limits.max_segments = std::min(segments, chain_room);
    if (virtio::has_feature(features, BlkFeature::size_max) && raw.size_max != 0) {
        // A page is the least a segment can be here (one frame of the
        // buffer); a device asking for less is not served.
        if (raw.size_max < 4096) {
            throw std::runtime_error("size_max " + std::to_string(raw.size_max) +
                                     " is below one page");
        }
        disk.limits.max_segment_bytes = std::min<std::uint32_t>(raw.size_max, 0xfffff000);
    }
    if (disk.discard &&
        config.size() >= offsetof(virtio::VirtioBlkConfig, discard_sector_alignment)) {
        // Linux: max_discard_sectors 0 means no limit.
        if (raw.max_discard_sectors != 0) {
            disk.limits.max_discard_sectors = raw.max_discard_sectors;
        }
    }
    return disk;
}

}  // namespace pvsim::frontend::virtio_blk
