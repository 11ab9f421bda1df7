// What a vhost-user-blk device is and offers, decided once from its options
// and its backing store: the virtio feature bits and vhost-user protocol
// features it offers, its configuration space (virtio 1.2 §5.2.4, answered to
// VHOST_USER_GET_CONFIG) and the limits every request is checked against.
// The defaults follow the contract shared with pvsim's virtio-blk driver and
// what qemu-storage-daemon's vhost-user-blk export offers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "backend/storage/backing_store.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/virtio/virtio_blk.hpp"

namespace pvsim::backend::vhost_user_blk {

inline constexpr unsigned kMaxQueues = 16;
inline constexpr std::uint32_t kDefaultQueueSize = 256;
// One range per DISCARD / WRITE_ZEROES request, as QEMU's virtio-blk offers.
inline constexpr std::uint32_t kMaxDiscardSegments = 1;
// Sectors one DISCARD / WRITE_ZEROES range may cover (2 GiB).
inline constexpr std::uint32_t kMaxDiscardSectors = 1u << 22;
// Data bytes of one IN/OUT request; a chain describing more is answered
// VIRTIO_BLK_S_IOERR (Linux's virtio-blk stays far below: max_sectors_kb).
inline constexpr std::uint64_t kMaxRequestBytes = 64ull << 20;

struct DeviceOptions {
    std::filesystem::path image;
    bool read_only = false;
    bool direct = false;  // O_DIRECT
    // Queues offered (VHOST_USER_GET_QUEUE_NUM, num_queues), 1..kMaxQueues.
    unsigned num_queues = 1;
    // The largest queue size SET_VRING_NUM may ask for (a power of two,
    // at most 32768); seg_max is derived from it.
    std::uint32_t queue_size = kDefaultQueueSize;
    // The queue loops' adaptive polling bound (poll-us); 0 turns polling off.
    std::chrono::microseconds poll_max{50};
    storage::EngineKind engine = storage::EngineKind::automatic;
};

// Throws std::invalid_argument naming the option that is out of range.
void validate(const DeviceOptions& options);

// What a request is checked against (blk_request.hpp).
struct BlkLimits {
    std::uint64_t capacity_sectors = 0;
    bool read_only = false;
    std::uint32_t seg_max = 0;
    std::uint32_t max_discard_sectors = kMaxDiscardSectors;
    std::uint32_t max_discard_seg = kMaxDiscardSegments;
    std::uint32_t discard_sector_alignment = 1;
    std::uint32_t max_write_zeroes_sectors = kMaxDiscardSectors;
    std::uint32_t max_write_zeroes_seg = kMaxDiscardSegments;
    std::uint64_t max_request_bytes = kMaxRequestBytes;
};

class DeviceConfig {
  public:
    static DeviceConfig describe(const storage::BackingStore& store, const DeviceOptions& options);

    // GET_FEATURES: virtio features plus VHOST_USER_F_PROTOCOL_FEATURES.
    std::uint64_t features() const noexcept { return features_; }
    // GET_PROTOCOL_FEATURES: MQ, REPLY_ACK, CONFIG.
    static std::uint64_t protocol_features() noexcept;
    const virtio::VirtioBlkConfig& config_space() const noexcept { return config_; }
    const BlkLimits& limits() const noexcept { return limits_; }
    unsigned num_queues() const noexcept { return num_queues_; }
    std::uint32_t max_queue_size() const noexcept { return max_queue_size_; }
    // The VIRTIO_BLK_T_GET_ID answer (at most kBlkIdBytes).
    const std::string& serial() const noexcept { return serial_; }

  private:
    std::uint64_t features_ = 0;
    virtio::VirtioBlkConfig config_{};
    BlkLimits limits_;
    unsigned num_queues_ = 1;
    std::uint32_t max_queue_size_ = kDefaultQueueSize;
    std::string serial_;
};

}  // namespace pvsim::backend::vhost_user_blk
