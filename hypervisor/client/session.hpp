// The state of one hypercall connection that a Hypervisor and the
// EventChannel objects it made share: the connection, who the hypervisor
// said we are, our own pages, and the mirror of the mappings this connection
// holds on other domains' memory (what Linux gntdev keeps per open file).
//
// Internal to the client library: users hold a Hypervisor.
#pragma once

#include <sys/mman.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/os/shared_memory.hpp"
#include "common/os/unique_fd.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/ring.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "hypervisor/client/grant_table.hpp"
#include "hypervisor/client/hypercall_channel.hpp"
#include "hypervisor/protocol/active_grants.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/protocol/shared_info.hpp"
#include "hypervisor/protocol/shared_maptrack.hpp"

namespace pvsim::hypervisor {

// One mmap(2)ed range, unmapped when destroyed.
class MappedRange {
  public:
    MappedRange() noexcept = default;
    MappedRange(void* address, std::size_t bytes) noexcept : address_(address), bytes_(bytes) {}
    MappedRange(MappedRange&& other) noexcept
        : address_(std::exchange(other.address_, nullptr)),
          bytes_(std::exchange(other.bytes_, 0)) {}
    MappedRange& operator=(MappedRange&& other) noexcept {
        if (this != &other) {
            reset();
            address_ = std::exchange(other.address_, nullptr);
            bytes_ = std::exchange(other.bytes_, 0);
        }
        return *this;
    }
    ~MappedRange() { reset(); }

    std::byte* data() const noexcept { return static_cast<std::byte*>(address_); }
    void reset() noexcept {
        if (address_ != nullptr) {
            ::munmap(std::exchange(address_, nullptr), std::exchange(bytes_, 0));
        }
    }

  private:
    void* address_ = nullptr;
    std::size_t bytes_ = 0;
};

// A domain whose memory this connection maps. `live` counts the live
// maptrack entries of this connection on that domain. The memory fd comes
// with grant_tables (maps made here), or with the first hypervisor map reply
// of the domain's memory object on this connection and no later one
// (server Domain::memory_sent): the views below are what later maps point
// into.
//
// The cost model (DESIGN.md §3, "What a grant map costs"): a granted page
// is not mmap(2)ed on its own. The granter's whole memory is mapped here
// once, a read-only view and a read/write one as maps ask for them, and a
// grant map answers a pointer into the view its access allows; an unmap
// only forgets the pointer. Xen flushes the TLB once per unmap batch
// (gnttab_flush_tlb), where a munmap per page made Linux shoot down the
// TLB of every CPU the backend ran on for each page: 44% of a backend's
// CPU at queue depth 32. What the hypervisor checks and answers (GNTST_*)
// is unchanged, a read-only map still faults on a write, but a page stays
// readable here after its unmap, where Xen's would fault.
//
// The views outlive `live` reaching 0, so that a queue-depth-1 stream does
// not map and unmap the granter's memory per request (a copy of the fd that
// does come again is dropped when it names the same object, same st_dev and
// st_ino: a hypervisor that sends it per 0-to-1 still works). A granter's
// views go once its object is
// unlinked (the domain was destroyed): checked for that granter when its
// count reaches 0, and for every unused granter when a new object arrives,
// so a request's path stats one object, never the whole list.
struct Granter {
    os::UniqueFd memory;
    std::uint64_t memory_bytes = 0;  // size of the object behind `memory`
    dev_t device = 0;                // the object's identity
    ino_t inode = 0;
    MappedRange read_only;   // the views, each mapped at its first use
    MappedRange read_write;  //
    std::uint32_t live = 0;
    // What grant_tables gave, for maps made here (DESIGN.md §3, "Where a
    // grant map runs"): the granter's grant table and active grants. Empty
    // for a granter only mapped through the hypervisor (ourselves, or
    // foreign maps).
    std::optional<os::SharedMemory> grant_table;
    std::optional<os::SharedMemory> active_object;
    std::optional<wire::ActiveGrants> active;
};

// Handles of maps made here carry this bit, so that they never meet the
// handles of the hypervisor's own maptrack (foreign maps, maps of our own
// grants); the rest is the slot in our shared maptrack.
inline constexpr xen::GrantHandle kLocalHandle = 0x80000000u;

// One live maptrack handle of this connection.
struct LocalMapping {
    xen::DomId granter = 0;
    std::byte* page = nullptr;  // in one of the granter's views
    // Where in the granter's memory, and how, for Hypervisor::map_area.
    std::uint64_t frame = 0;
    bool readonly = false;
};

// The error for a call the hypervisor refused as a whole: `what` names the
// Xen operation and its arguments ("EVTCHNOP_bind_interdomain(dom 3, port 5)"),
// `result` is the reply's negative errno.
inline HypercallError refused(const std::string& what, std::int32_t result) {
    return HypercallError(what + ": " + std::system_category().message(-result), -result);
}

// A reply payload that must be exactly one T (the struct sent, OUT fields
// filled in).
template <typename T>
T reply_as(const HypercallReply& reply, const std::string& what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (reply.payload.size() != sizeof(T)) {
        throw HypercallError(what + ": reply of " + std::to_string(reply.payload.size()) +
                                 " bytes, expected " + std::to_string(sizeof(T)),
                             EPROTO);
    }
    T value;
    std::memcpy(&value, reply.payload.data(), sizeof(T));
    return value;
}

template <typename T>
std::span<const std::byte> bytes_of(const T& value) noexcept {
    return std::as_bytes(std::span(&value, 1));
}

struct Session {
    explicit Session(os::UniqueFd socket) : channel(std::move(socket)) {}
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    HypercallChannel channel;
    wire::Welcome welcome{};
    std::optional<DomainMemory> memory;
    std::optional<os::SharedMemory> grant_table_memory;
    std::optional<GrantTable> grant_table;
    std::optional<os::SharedMemory> shared_info_memory;
    wire::SharedInfoView shared_info{nullptr};
    // A guest's store port's incoming eventfd, until take_store_event_channel.
    std::optional<os::EventFd> store_port_incoming;

    // Held across a map or unmap hypercall and the mirror update that
    // follows, so that the mirror sees the calls in the order the hypervisor
    // did.
    std::mutex maps_mutex;
    std::map<xen::DomId, Granter> granters;
    std::unordered_map<xen::GrantHandle, LocalMapping> mappings;
    // This connection's shared maptrack (from its first grant_tables), the
    // slots free in it and the next never used.
    std::optional<os::SharedMemory> maptrack_object;
    std::optional<wire::SharedMaptrack> maptrack;
    std::vector<std::uint32_t> free_slots;
    std::uint32_t next_slot = 0;
};

}  // namespace pvsim::hypervisor
