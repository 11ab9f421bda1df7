// The xenstore wire protocol (xen/io/xs_wire.h): what pvsim-xenstored, its
// client library and Debian's libxenstore exchange, over the unix socket and
// over a guest's xenstore ring page alike.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pvsim::xen::xs {

// enum xsd_sockmsg_type. 20 was XS_RESTRICT, removed from the protocol; its
// number stays unused so that later numbers keep their values.
enum class MessageType : std::uint32_t {
    control = 0,  // formerly XS_DEBUG
    directory = 1,
    read = 2,
    get_perms = 3,
    watch = 4,
    unwatch = 5,
    transaction_start = 6,
    transaction_end = 7,
    introduce = 8,
    release = 9,
    get_domain_path = 10,
    write = 11,
    mkdir = 12,
    rm = 13,
    set_perms = 14,
    watch_event = 15,
    error = 16,
    is_domain_introduced = 17,
    resume = 18,
    set_target = 19,
    reset_watches = 21,
    directory_part = 22,
    type_count = 23,   // number of valid types (XS_TYPE_COUNT)
    invalid = 0xffff,  // guaranteed to stay invalid (XS_INVALID)
};

// Name as the header spells it ("XS_READ"), for logs and errors; "XS_UNKNOWN"
// for numbers the protocol does not define.
std::string_view name(MessageType type);

// struct xsd_sockmsg: every message is this header followed by `len` bytes of
// payload, generally nul-terminated strings.
struct MessageHeader {
    std::uint32_t type;
    std::uint32_t req_id;  // echoed in the reply
    std::uint32_t tx_id;   // 0 outside a transaction
    std::uint32_t len;     // payload bytes that follow
};
static_assert(sizeof(MessageHeader) == 16);

inline constexpr std::size_t kPayloadMax = 4096;  // XENSTORE_PAYLOAD_MAX
inline constexpr std::size_t kAbsPathMax = 3072;  // XENSTORE_ABS_PATH_MAX
inline constexpr std::size_t kRelPathMax = 2048;  // XENSTORE_REL_PATH_MAX

// Field order of an XS_WATCH_EVENT payload (enum xs_watch_type).
inline constexpr std::size_t kWatchPath = 0;
inline constexpr std::size_t kWatchToken = 1;

// struct xsd_errors: an XS_ERROR reply carries the errno's *name*, and the
// table's order is part of the ABI ("new errors are added at the end").
struct ErrorName {
    int errnum;
    std::string_view name;
};
inline constexpr std::array<ErrorName, 16> kErrors = {{
    {EINVAL, "EINVAL"},
    {EACCES, "EACCES"},
    {EEXIST, "EEXIST"},
    {EISDIR, "EISDIR"},
    {ENOENT, "ENOENT"},
    {ENOMEM, "ENOMEM"},
    {ENOSPC, "ENOSPC"},
    {EIO, "EIO"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ENOSYS, "ENOSYS"},
    {EROFS, "EROFS"},
    {EBUSY, "EBUSY"},
    {EAGAIN, "EAGAIN"},
    {EISCONN, "EISCONN"},
    {E2BIG, "E2BIG"},
    {EPERM, "EPERM"},
}};

// The string to send for an errno. Like the C xenstored, an errno with no
// name in the table is sent as EINVAL rather than invented.
std::string_view error_name(int errnum);

// The errno an XS_ERROR string stands for; nullopt for strings not in the
// table (libxenstore then reports EINVAL).
std::optional<int> error_number(std::string_view name);

// struct xenstore_domain_interface: the page through which a guest talks to
// xenstored. Two byte rings; the indices are free-running and masked on use.
// Each index is written by one side only and read by the other, so users
// access them with std::atomic_ref and the barriers the header describes.
inline constexpr std::uint32_t kRingSize = 1024;  // XENSTORE_RING_SIZE

struct DomainInterface {
    char req[kRingSize];  // guest -> xenstored
    char rsp[kRingSize];  // xenstored -> guest: replies and watch events
    std::uint32_t req_cons, req_prod;
    std::uint32_t rsp_cons, rsp_prod;
    std::uint32_t server_features;
    std::uint32_t connection;
    std::uint32_t error;
};
static_assert(sizeof(DomainInterface) == 2 * kRingSize + 7 * sizeof(std::uint32_t));

constexpr std::uint32_t mask_index(std::uint32_t index) {  // MASK_XENSTORE_IDX
    return index & (kRingSize - 1);
}

// A producer can never be more than a ring ahead of its consumer; indices that
// claim otherwise come from a broken or hostile peer (Linux xenbus: check_indexes).
constexpr bool indexes_valid(std::uint32_t cons, std::uint32_t prod) {
    return prod - cons <= kRingSize;
}

inline constexpr std::uint32_t kServerFeatureReconnection = 1;  // XENSTORE_SERVER_FEATURE_*
inline constexpr std::uint32_t kServerFeatureError = 2;

inline constexpr std::uint32_t kConnected = 0;  // XENSTORE_CONNECTED: steady state
inline constexpr std::uint32_t kReconnect = 1;  // XENSTORE_RECONNECT: in progress

inline constexpr std::uint32_t kErrorNone = 0;  // XENSTORE_ERROR_*
inline constexpr std::uint32_t kErrorComm = 1;
inline constexpr std::uint32_t kErrorRingIdx = 2;
inline constexpr std::uint32_t kErrorProto = 3;  // e.g. payload too long

}  // namespace pvsim::xen::xs
