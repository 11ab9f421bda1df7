// virtio-blk (virtio 1.2 §5.2 "Block Device"; linux/virtio_blk.h): the
// request a driver places on a virtqueue, the status byte the device
// returns, the device's configuration space and its feature bits.
//
// A request is one descriptor chain: a device-readable VirtioBlkOutHdr, then
// data (device-readable for OUT, device-writable for IN), then one
// device-writable status byte (§5.2.6, struct virtio_blk_req). All fields are
// little-endian; see features.hpp for how pvsim stores them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/virtio/features.hpp"

namespace pvsim::virtio {

// Device ID of a block device (§5.2.1; linux/virtio_ids.h VIRTIO_ID_BLOCK).
inline constexpr std::uint32_t kVirtioIdBlock = 2;

// Sectors on the wire are always 512 bytes, whatever blk_size says (§5.2.5).
inline constexpr std::uint64_t kSectorSize = 512;
inline constexpr unsigned kSectorShift = 9;

// VIRTIO_BLK_ID_BYTES: the GET_ID answer, NUL-padded, not terminated when full.
inline constexpr std::size_t kBlkIdBytes = 20;

// Feature bit numbers (§5.2.3; VIRTIO_BLK_F_*).
enum class BlkFeature : unsigned {
    barrier = 0,        // legacy: VIRTIO_BLK_F_BARRIER
    size_max = 1,       // size_max holds the largest segment
    seg_max = 2,        // seg_max holds the most segments per request
    geometry = 4,       // geometry is valid
    ro = 5,             // device is read-only
    blk_size = 6,       // blk_size is valid
    scsi = 7,           // legacy: VIRTIO_BLK_F_SCSI
    flush = 9,          // VIRTIO_BLK_T_FLUSH supported (legacy name VIRTIO_BLK_F_WCE)
    topology = 10,      // physical_block_exp .. opt_io_size are valid
    config_wce = 11,    // wce (the spec's `writeback`) is writable
    mq = 12,            // num_queues is valid
    discard = 13,       // VIRTIO_BLK_T_DISCARD supported
    write_zeroes = 14,  // VIRTIO_BLK_T_WRITE_ZEROES supported
    lifetime = 15,      // VIRTIO_BLK_T_GET_LIFETIME supported (virtio 1.2)
    secure_erase = 16,  // VIRTIO_BLK_T_SECURE_ERASE supported (virtio 1.2)
};
constexpr std::uint64_t feature_mask(BlkFeature f) {
    return feature_mask(static_cast<unsigned>(f));
}
constexpr bool has_feature(std::uint64_t features, BlkFeature f) {
    return (features & feature_mask(f)) != 0;
}

// "VIRTIO_BLK_F_FLUSH", or an empty view when `bit` is no virtio-blk bit.
std::string_view blk_feature_name(unsigned bit);

// Every set bit of a virtio-blk device's feature word, by name where it has
// one (device-independent bits included), else "bit N"; joined with '|'.
// For logs: "VIRTIO_BLK_F_FLUSH|VIRTIO_F_VERSION_1|bit 45".
std::string describe_blk_features(std::uint64_t features);

// Request types (§5.2.6; VIRTIO_BLK_T_*). The wire field is a raw u32, so a
// value outside this list is possible and gets VIRTIO_BLK_S_UNSUPP.
enum class BlkReqType : std::uint32_t {
    in = 0,   // read
    out = 1,  // write
    flush = 4,
    get_id = 8,
    get_lifetime = 10,
    discard = 11,
    write_zeroes = 13,
    secure_erase = 14,
};
std::string_view name(BlkReqType type);  // "VIRTIO_BLK_T_IN"; "VIRTIO_BLK_T_UNKNOWN"

// Status byte values, the last byte of every request (§5.2.6; VIRTIO_BLK_S_*).
enum class BlkStatus : std::uint8_t {
    ok = 0,
    ioerr = 1,
    unsupp = 2,
};
std::string_view name(BlkStatus status);  // "VIRTIO_BLK_S_OK"; "VIRTIO_BLK_S_UNKNOWN"

// The device-readable head of every request: struct virtio_blk_req up to
// `data` in the spec, struct virtio_blk_outhdr in Linux.
struct VirtioBlkOutHdr {
    std::uint32_t type;    // a BlkReqType
    std::uint32_t ioprio;  // the spec's `reserved`; Linux's I/O priority. Devices ignore it.
    std::uint64_t sector;  // in 512-byte units; 0 for types without a position
};
static_assert(sizeof(VirtioBlkOutHdr) == 16);

// One range of a DISCARD, WRITE_ZEROES or SECURE_ERASE request; the data of
// such a request is an array of these (struct virtio_blk_discard_write_zeroes).
struct VirtioBlkDiscardWriteZeroes {
    std::uint64_t sector;
    std::uint32_t num_sectors;
    std::uint32_t flags;  // kBlkWriteZeroesFlagUnmap; the other 31 bits are reserved
};
static_assert(sizeof(VirtioBlkDiscardWriteZeroes) == 16);

// VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP: WRITE_ZEROES may deallocate the range,
// provided later reads return zeroes.
inline constexpr std::uint32_t kBlkWriteZeroesFlagUnmap = 1;

// What a GET_LIFETIME request's data receives (§5.2.6, struct
// virtio_blk_lifetime; virtio 1.2, not in every linux/virtio_blk.h).
struct VirtioBlkLifetime {
    std::uint16_t pre_eol_info;               // one of kBlkPreEolInfo*
    std::uint16_t device_lifetime_est_typ_a;  // SLC wear in 10% steps; 0 undefined, 11 exceeded
    std::uint16_t device_lifetime_est_typ_b;  // MLC wear, same scale
};
static_assert(sizeof(VirtioBlkLifetime) == 6);
inline constexpr std::uint16_t kBlkPreEolInfoUndefined = 0;
inline constexpr std::uint16_t kBlkPreEolInfoNormal = 1;   // < 80% of reserved blocks used
inline constexpr std::uint16_t kBlkPreEolInfoWarning = 2;  // 80%
inline constexpr std::uint16_t kBlkPreEolInfoUrgent = 3;   // 90%

// struct virtio_blk_geometry (nested in the config, valid with GEOMETRY).
struct VirtioBlkGeometry {
    std::uint16_t cylinders;
    std::uint8_t heads;
    std::uint8_t sectors;
};
static_assert(sizeof(VirtioBlkGeometry) == 4);

// struct virtio_blk_config, field for field and packed as linux/virtio_blk.h
// has it (§5.2.4). Linux flattens the spec's `topology` struct and names
// the spec's `writeback` `wce` and `unused0` `unused`. The spec's later
// `zoned` characteristics (VIRTIO_BLK_F_ZONED) are not part of this layout.
// A field is meaningful only when its feature bit is negotiated; capacity
// always is. Reaching it through vhost-user GET_CONFIG, the device answers
// with these bytes.
struct [[gnu::packed]] VirtioBlkConfig {
    std::uint64_t capacity;      // in 512-byte sectors
    std::uint32_t size_max;      // SIZE_MAX
    std::uint32_t seg_max;       // SEG_MAX
    VirtioBlkGeometry geometry;  // GEOMETRY
    std::uint32_t blk_size;      // BLK_SIZE: optimal logical block size in bytes
    // TOPOLOGY:
    std::uint8_t physical_block_exp;  // log2(physical blocks per logical block)
    std::uint8_t alignment_offset;    // first aligned logical block
    std::uint16_t min_io_size;        // suggested minimum I/O, in logical blocks
    std::uint32_t opt_io_size;        // optimal I/O, in logical blocks
    std::uint8_t wce;                 // CONFIG_WCE: 1 writeback, 0 writethrough
    std::uint8_t unused;
    std::uint16_t num_queues;  // MQ
    // DISCARD:
    std::uint32_t max_discard_sectors;
    std::uint32_t max_discard_seg;
    std::uint32_t discard_sector_alignment;
    // WRITE_ZEROES:
    std::uint32_t max_write_zeroes_sectors;
    std::uint32_t max_write_zeroes_seg;
    std::uint8_t write_zeroes_may_unmap;
    std::uint8_t unused1[3];
    // SECURE_ERASE:
    std::uint32_t max_secure_erase_sectors;
    std::uint32_t max_secure_erase_seg;
    std::uint32_t secure_erase_sector_alignment;
};
static_assert(sizeof(VirtioBlkConfig) == 72);

}  // namespace pvsim::virtio
