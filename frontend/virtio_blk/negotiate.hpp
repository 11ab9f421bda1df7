// What the driver asks of a virtio-blk device and what it makes of the
// answers (virtio 1.2 §5.2.3-§5.2.5, §6; Linux virtio_blk.c virtblk_probe,
// QEMU hw/block/vhost-user-blk.c for the vhost-user parts): the feature bits
// it accepts, the vhost-user protocol features it uses, and the disk and
// request limits it reads from the config space. Pure: the handshake itself
// is in virtio_blk.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/virtio/virtio_blk.hpp"
#include "frontend/virtio_blk/request_builder.hpp"

namespace pvsim::frontend::virtio_blk {

// Queues the driver sets up at most.
inline constexpr unsigned kMaxQueues = 16;

// Feature bits the driver understands: VERSION_1, EVENT_IDX, INDIRECT_DESC,
// and virtio-blk's FLUSH, DISCARD, WRITE_ZEROES, MQ, BLK_SIZE, SEG_MAX,
// SIZE_MAX, RO, CONFIG_WCE.
std::uint64_t driver_features() noexcept;

// The features to SET: offered ones the driver understands, plus
// VHOST_USER_F_PROTOCOL_FEATURES when offered (QEMU's vhost_user_set_features
// keeps it so that the rings wait for SET_VRING_ENABLE). Throws
// std::runtime_error when VIRTIO_F_VERSION_1 is not offered: a legacy device
// is not supported.
std::uint64_t select_features(std::uint64_t offered);

// The protocol features to SET: MQ, REPLY_ACK and CONFIG where offered
// (never INFLIGHT_SHMFD).
std::uint64_t select_protocol_features(std::uint64_t offered) noexcept;

// How many bytes of config space to ask for: the whole of struct
// virtio_blk_config, or, for a device whose config ends before the secure
// erase fields (QEMU 7.2's answers a larger GET_CONFIG with nothing), up to
// write_zeroes_may_unmap and its padding.
inline constexpr std::uint32_t kConfigSize = sizeof(virtio::VirtioBlkConfig);
inline constexpr std::uint32_t kConfigSizeWithoutSecureErase = 60;

// The disk as the driver uses it.
struct DiskConfig {
    std::uint64_t features = 0;       // negotiated virtio feature bits
    std::uint64_t capacity = 0;       // 512-byte sectors
    std::uint32_t sector_size = 512;  // logical block size (BLK_SIZE), else 512
    bool read_only = false;           // VIRTIO_BLK_F_RO
    bool flush = false;               // VIRTIO_BLK_F_FLUSH: send VIRTIO_BLK_T_FLUSH
    bool writeback = false;           // the device caches writes (virtblk_get_cache_mode)
    bool discard = false;             // VIRTIO_BLK_F_DISCARD
    unsigned device_queues = 1;       // num_queues with VIRTIO_BLK_F_MQ, else 1
    RequestLimits limits;
};

// Reads `config` (`size` bytes of it valid) under the negotiated
// `features`. `max_chain` is the longest descriptor chain one request may
// take (the queue size, §2.7.5.3.1): seg_max is capped to leave room for
// the header and status. Throws std::runtime_error for a config
// that cannot be used (too short, a zero logical block size or num_queues).
DiskConfig read_disk_config(std::span<const std::byte> config, std::uint64_t features,
                            std::size_t max_chain);

}  // namespace pvsim::frontend::virtio_blk
