// The vhost-user wire ABI (QEMU docs/interop/vhost-user.rst): what the
// virtio driver's front-end and a vhost-user device (pvsim's own, or
// qemu-storage-daemon's vhost-user-blk export) exchange over a unix socket.
// Layouts and numbers only; the socket, fd passing and state machines are
// built on top of this elsewhere.
//
// Every message is a Header followed by `size` bytes of payload. Numbers are
// in the host's byte order ("All numbers are in the machine native byte
// order"). The header is 12 bytes, so a payload's 64-bit fields are not
// naturally aligned in the byte stream: QEMU packs the whole message; a
// reader copies the payload out (memcpy) into these structs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/virtio/features.hpp"

namespace pvsim::vhost_user {

// --- Header ------------------------------------------------------------

struct Header {
    std::uint32_t request;  // a Request (front-end to back-end) or BackendRequest
    std::uint32_t flags;    // version and the bits below
    std::uint32_t size;     // payload bytes that follow
};
static_assert(sizeof(Header) == 12);
inline constexpr std::size_t kHeaderSize = sizeof(Header);

// Header flags: the lower two bits carry the version (always 1), bit 2 marks
// a reply, bit 3 asks for one (REPLY_ACK). Other bits are reserved.
inline constexpr std::uint32_t kVersion = 0x1;
inline constexpr std::uint32_t kVersionMask = 0x3;    // VHOST_USER_VERSION_MASK
inline constexpr std::uint32_t kReplyMask = 0x4;      // VHOST_USER_REPLY_MASK
inline constexpr std::uint32_t kNeedReplyMask = 0x8;  // VHOST_USER_NEED_REPLY_MASK

constexpr std::uint32_t flags_version(std::uint32_t flags) {
    return flags & kVersionMask;
}
constexpr bool has_supported_version(std::uint32_t flags) {
    return flags_version(flags) == kVersion;
}
constexpr bool is_reply(std::uint32_t flags) {
    return (flags & kReplyMask) != 0;
}
constexpr bool needs_reply(std::uint32_t flags) {
    return (flags & kNeedReplyMask) != 0;
}
// Flags of a request; `need_reply` only has meaning once
// VHOST_USER_PROTOCOL_F_REPLY_ACK is negotiated.
constexpr std::uint32_t request_flags(bool need_reply = false) {
    return kVersion | (need_reply ? kNeedReplyMask : 0);
}
// Flags of the back-end's reply to a request (or the front-end's reply to a
// back-end request).
constexpr std::uint32_t reply_flags() {
    return kVersion | kReplyMask;
}

// --- Message types -----------------------------------------------------

// "Front-end message types": the `id` of each VHOST_USER_* request.
enum class Request : std::uint32_t {
    none = 0,  // VHOST_USER_NONE: never sent
    get_features = 1,
    set_features = 2,
    set_owner = 3,
    reset_owner = 4,  // deprecated
    set_mem_table = 5,
    set_log_base = 6,
    set_log_fd = 7,
    set_vring_num = 8,
    set_vring_addr = 9,
    set_vring_base = 10,
    get_vring_base = 11,
    set_vring_kick = 12,
    set_vring_call = 13,
    set_vring_err = 14,
    get_protocol_features = 15,
    set_protocol_features = 16,
    get_queue_num = 17,
    set_vring_enable = 18,
    send_rarp = 19,
    net_set_mtu = 20,
    set_backend_req_fd = 21,  // formerly SET_SLAVE_REQ_FD
    iotlb_msg = 22,
    set_vring_endian = 23,
    get_config = 24,
    set_config = 25,
    create_crypto_session = 26,
    close_crypto_session = 27,
    postcopy_advise = 28,
    postcopy_listen = 29,
    postcopy_end = 30,
    get_inflight_fd = 31,
    set_inflight_fd = 32,
    gpu_set_socket = 33,
    reset_device = 34,
    vring_kick = 35,
    get_max_mem_slots = 36,
    add_mem_reg = 37,
    rem_mem_reg = 38,
    set_status = 39,
    get_status = 40,
    get_shared_object = 41,
    set_device_state_fd = 42,
    check_device_state = 43,
};
// "VHOST_USER_SET_VRING_KICK"; "VHOST_USER_UNKNOWN" for other numbers.
std::string_view name(Request request);

// "Back-end message types", sent on the channel set up by
// SET_BACKEND_REQ_FD (protocol feature BACKEND_REQ). Their numbers overlap
// the front-end's: which enum applies depends on the socket.
enum class BackendRequest : std::uint32_t {
    none = 0,
    iotlb_msg = 1,                // formerly VHOST_USER_SLAVE_IOTLB_MSG
    config_change_msg = 2,        // formerly VHOST_USER_SLAVE_CONFIG_CHANGE_MSG
    vring_host_notifier_msg = 3,  // formerly VHOST_USER_SLAVE_VRING_HOST_NOTIFIER_MSG
    vring_call = 4,
    vring_err = 5,
    shared_object_add = 6,
    shared_object_remove = 7,
    shared_object_lookup = 8,
};
// "VHOST_USER_BACKEND_CONFIG_CHANGE_MSG"; "VHOST_USER_BACKEND_UNKNOWN".
std::string_view name(BackendRequest request);

// --- Features --------------------------------------------------------------

// VHOST_USER_F_PROTOCOL_FEATURES: in GET_FEATURES, the back-end speaks
// GET/SET_PROTOCOL_FEATURES. It reuses virtio's unused legacy bit 30, which
// no virtio device offers, so a driver never sees it.
inline constexpr unsigned kFProtocolFeatures = 30;
// VHOST_F_LOG_ALL (linux/vhost_types.h): the front-end logs dirty pages for
// migration.
inline constexpr unsigned kFLogAll = 26;

// Protocol feature bit numbers (VHOST_USER_PROTOCOL_F_*), negotiated with
// GET/SET_PROTOCOL_FEATURES.
enum class ProtocolFeature : unsigned {
    mq = 0,
    log_shmfd = 1,
    rarp = 2,
    reply_ack = 3,
    mtu = 4,
    backend_req = 5,  // formerly SLAVE_REQ
    cross_endian = 6,
    crypto_session = 7,
    pagefault = 8,
    config = 9,
    backend_send_fd = 10,  // formerly SLAVE_SEND_FD
    host_notifier = 11,
    inflight_shmfd = 12,
    reset_device = 13,
    inband_notifications = 14,
    configure_mem_slots = 15,
    status = 16,
    xen_mmap = 17,
    shared_object = 18,
    device_state = 19,
};
constexpr std::uint64_t protocol_feature_mask(ProtocolFeature f) {
    return std::uint64_t{1} << static_cast<unsigned>(f);
}
constexpr bool has_protocol_feature(std::uint64_t features, ProtocolFeature f) {
    return (features & protocol_feature_mask(f)) != 0;
}
// "VHOST_USER_PROTOCOL_F_REPLY_ACK"; empty for other bits.
std::string_view name(ProtocolFeature feature);

// --- Payloads ------------------------------------------------------------
// Names follow QEMU's C structures (VhostUserMsg's union members); the
// spec's prose names are in the comments. GET_FEATURES, SET_FEATURES, the
// protocol-feature pair, GET_QUEUE_NUM, SET_STATUS, GET_STATUS, the REPLY_ACK
// answer and the KICK/CALL/ERR messages carry a plain std::uint64_t.

// "A vring state description" (struct vhost_vring_state): SET_VRING_NUM,
// SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE, SET_VRING_ENDIAN,
// VRING_KICK, BACKEND_VRING_CALL/ERR.
struct VringState {
    std::uint32_t index;  // virtqueue index
    std::uint32_t num;    // size, base index, enable flag... per request
};
static_assert(sizeof(VringState) == 8);

// "A vring address description" (struct vhost_vring_addr): SET_VRING_ADDR.
// The addresses are the front-end's own virtual ("user") addresses,
// translated through the memory table's userspace_addr, not guest-physical.
struct VringAddr {
    std::uint32_t index;
    std::uint32_t flags;            // bit kVringFLog: log used-ring writes
    std::uint64_t desc_user_addr;   // "descriptor"
    std::uint64_t used_user_addr;   // "used"
    std::uint64_t avail_user_addr;  // "available"
    std::uint64_t log_guest_addr;   // "log": guest address for logging
};
static_assert(sizeof(VringAddr) == 40);
inline constexpr unsigned kVringFLog = 0;  // VHOST_VRING_F_LOG (a bit number)

// "Memory region description" (VhostUserMemoryRegion; struct
// vhost_memory_region has the same layout with flags_padding last).
struct MemoryRegion {
    std::uint64_t guest_phys_addr;  // "guest address"
    std::uint64_t memory_size;      // "size"
    std::uint64_t userspace_addr;   // "user address": the front-end's mapping
    std::uint64_t mmap_offset;      // where the region starts in the fd passed with it
};
static_assert(sizeof(MemoryRegion) == 32);

// VHOST_MEMORY_BASELINE_NREGIONS: regions per SET_MEM_TABLE, and so also the
// most fds one message carries (libvhost-user sizes its fd array by it; the
// back-end channel allows "at most 8 descriptors in each message").
inline constexpr std::size_t kMemoryBaselineNregions = 8;
inline constexpr std::size_t kMaxFds = 8;

// "Multiple memory regions description" (VhostUserMemory): SET_MEM_TABLE.
// Sent with `size` = 8 + nregions * 32 and one fd per region, in order.
struct Memory {
    std::uint32_t nregions;
    std::uint32_t padding;
    MemoryRegion regions[kMemoryBaselineNregions];
};
static_assert(sizeof(Memory) == 8 + 8 * 32);
inline constexpr std::size_t kMemoryRegionsOffset = 8;  // offsetof(Memory, regions)

// "Single memory region description" (VhostUserMemRegMsg): ADD_MEM_REG,
// REM_MEM_REG (protocol feature CONFIGURE_MEM_SLOTS).
struct MemRegMsg {
    std::uint64_t padding;
    MemoryRegion region;
};
static_assert(sizeof(MemRegMsg) == 40);

// "Log description" (VhostUserLog): SET_LOG_BASE with LOG_SHMFD.
struct Log {
    std::uint64_t mmap_size;
    std::uint64_t mmap_offset;
};
static_assert(sizeof(Log) == 16);

// "An IOTLB message" (struct vhost_iotlb_msg): IOTLB_MSG and
// BACKEND_IOTLB_MSG, only with VIRTIO_F_ACCESS_PLATFORM.
struct IotlbMsg {
    std::uint64_t iova;
    std::uint64_t size;
    std::uint64_t uaddr;
    std::uint8_t perm;  // kAccess*
    std::uint8_t type;  // kIotlb*
};
static_assert(sizeof(IotlbMsg) == 32);
inline constexpr std::uint8_t kAccessRo = 0x1;  // VHOST_ACCESS_RO
inline constexpr std::uint8_t kAccessWo = 0x2;  // VHOST_ACCESS_WO
inline constexpr std::uint8_t kAccessRw = 0x3;  // VHOST_ACCESS_RW
inline constexpr std::uint8_t kIotlbMiss = 1;
inline constexpr std::uint8_t kIotlbUpdate = 2;
inline constexpr std::uint8_t kIotlbInvalidate = 3;
inline constexpr std::uint8_t kIotlbAccessFail = 4;

// "Virtio device config space" (VhostUserConfig): GET_CONFIG, SET_CONFIG.
// Sent with `size` = kConfigHeaderSize + config.size; the back-end answers
// GET_CONFIG with the same size, or a zero-size payload on error.
inline constexpr std::size_t kMaxConfigSize = 256;  // VHOST_USER_MAX_CONFIG_SIZE
struct Config {
    std::uint32_t offset;  // into the device's config space
    std::uint32_t size;    // bytes of `region` that count
    std::uint32_t flags;   // kConfigType*
    std::uint8_t region[kMaxConfigSize];
};
static_assert(sizeof(Config) == 12 + kMaxConfigSize);
inline constexpr std::size_t kConfigHeaderSize = 12;  // VHOST_USER_CONFIG_HDR_SIZE
// SET_CONFIG flags: a guest's write of a writable field, or live migration
// (which may also write read-only fields).
inline constexpr std::uint32_t kConfigTypeFrontend = 0;  // formerly ..._MASTER
inline constexpr std::uint32_t kConfigTypeMigration = 1;

// "Vring area description" (VhostUserVringArea):
// BACKEND_VRING_HOST_NOTIFIER_MSG.
struct VringArea {
    std::uint64_t u64;  // vring index and flags, as the KICK/CALL payload
    std::uint64_t size;
    std::uint64_t offset;
};
static_assert(sizeof(VringArea) == 24);

// "Inflight description" (VhostUserInflight): GET_INFLIGHT_FD,
// SET_INFLIGHT_FD (INFLIGHT_SHMFD). Not packed in QEMU: 4 bytes of tail
// padding make it 24, and libvhost-user insists on exactly that size.
struct Inflight {
    std::uint64_t mmap_size;
    std::uint64_t mmap_offset;
    std::uint16_t num_queues;
    std::uint16_t queue_size;
};
static_assert(sizeof(Inflight) == 24);

// The payload of SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR is a u64:
// bits 0-7 the vring index, bit 8 set when no fd is attached (then the
// back-end polls instead of waiting on an eventfd).
inline constexpr std::uint64_t kVringIdxMask = 0xff;     // VHOST_USER_VRING_IDX_MASK
inline constexpr std::uint64_t kVringNofdMask = 1 << 8;  // VHOST_USER_VRING_NOFD_MASK
constexpr std::uint64_t vring_fd_payload(std::uint32_t index, bool no_fd) {
    return (index & kVringIdxMask) | (no_fd ? kVringNofdMask : 0);
}
constexpr std::uint32_t vring_fd_index(std::uint64_t payload) {
    return static_cast<std::uint32_t>(payload & kVringIdxMask);
}
constexpr bool vring_fd_absent(std::uint64_t payload) {
    return (payload & kVringNofdMask) != 0;
}

// Largest payload pvsim accepts: the largest of the structures above
// (Config). libvhost-user, which qemu-storage-daemon's vhost-user-blk export
// is built on, bounds its payload union the same way and rejects bigger
// messages. (QEMU's own front-end union also holds crypto-session payloads,
// which no block device sends.) A reader refuses `size` above this before
// reading the payload.
inline constexpr std::size_t kMaxPayloadSize = sizeof(Config);

}  // namespace pvsim::vhost_user
