// One domain as the hypervisor holds it (DESIGN.md §3): its four
// shared-memory objects (memory, grant-table frames, shared info, active
// grant entries), its event
// channel ports, its maptrack table, the active entries of its own grant
// table, and its counters. What Xen keeps in `struct domain`, its
// `struct grant_table` and its `struct evtchn` buckets.
//
// Plain data with a few accessors: the rules that change it live in
// GrantOps and EventChannels, which work across domains.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/os/event_fd.hpp"
#include "common/os/shared_memory.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/protocol/active_grants.hpp"
#include "hypervisor/protocol/hypercall.hpp"
#include "hypervisor/protocol/shared_info.hpp"
#include "hypervisor/protocol/shared_maptrack.hpp"

namespace pvsim::hypervisor::server {

// Names one hypercall connection. dom0 has many (xenstored, blkback,
// tools), each like a Linux /dev/xen/gntdev + evtchn open file: the ports and
// mappings it makes are its own and go when it goes.
using ConnectionId = std::uint64_t;
// The owner of what belongs to a domain rather than to one of its
// connections (a port a privileged caller made in it): connections are
// numbered from 1.
inline constexpr ConnectionId kNoConnection = 0;

// Xen reserves frame 0 of every domain for the xenstore ring here
// (start_info.store_mfn); the domain's allocator starts above it.
inline constexpr std::uint64_t kStoreGfn = 0;
inline constexpr std::uint64_t kFirstFreeGfn = 1;

// Xen's default max_maptrack_frames (1024) x MAPTRACK_PER_PAGE (256 entries
// of 16 bytes in a 4 KiB page): handles a domain may hold at once in the
// hypervisor's maptrack, and a connection in the one it shares with its
// process (shared_maptrack.hpp).
inline constexpr std::size_t kMaxMaptrackHandles = 1024 * 256;

enum class DomainLife { running, dying };

// A memory object's identity as fstat(2) gives it, the one the client
// compares (st_dev, st_ino).
struct MemoryIdentity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    bool operator==(const MemoryIdentity&) const = default;
};

struct DomainCounters {
    std::array<std::uint64_t, wire::kOpCount> hypercalls{};  // by wire::Op
    std::uint64_t grant_maps = 0;                            // successful slots
    std::uint64_t grant_unmaps = 0;
    std::uint64_t grant_copies = 0;
    std::uint64_t foreign_maps = 0;
    std::uint64_t events_sent = 0;      // sends the hypervisor delivered itself
    std::uint64_t memory_fds_sent = 0;  // granter memory fds attached to map replies
};

// event_channel.c: ECS_FREE / ECS_UNBOUND / ECS_INTERDOMAIN / ECS_VIRQ (the
// only states pvsim's ports take).
enum class PortState { free, unbound, interdomain, virq };

struct Port {
    PortState state = PortState::free;
    xen::DomId remote_dom = 0;            // unbound: who may bind; interdomain: the peer
    xen::EvtchnPort remote_port = 0;      // interdomain only
    std::uint32_t virq = 0;               // virq only
    ConnectionId owner = 0;               // the connection that made it
    std::optional<os::EventFd> incoming;  // made with the port, never reused
};

// grant_table.c: struct grant_mapping, one maptrack handle.
struct MaptrackEntry {
    bool in_use = false;
    bool foreign = false;  // a foreign_map of a frame, no grant entry behind it
    xen::DomId granter = 0;
    xen::GrantRef ref = 0;  // grant maps only
    std::uint64_t frame = 0;
    bool readonly = false;
    ConnectionId owner = 0;
};

class Domain {
  public:
    // Creates the four objects, named os::shm_name(shm_tag, "dom<D>.memory"
    // etc.), zero-filled. memory_bytes must be a non-zero multiple of 4096.
    Domain(std::string_view shm_tag, xen::DomId domid, std::string name, std::uint64_t memory_bytes,
           std::uint32_t grant_frames);

    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    xen::DomId domid() const noexcept { return domid_; }
    const std::string& name() const noexcept { return name_; }
    DomainLife life() const noexcept { return life_; }
    bool running() const noexcept { return life_ == DomainLife::running; }
    // Also marks the shared active grant table, under its lock, so that no
    // mapper pins a grant of this domain from then on.
    void set_dying();

    std::uint64_t memory_bytes() const noexcept { return memory_.size(); }
    std::uint64_t memory_frames() const noexcept { return memory_.size() / xen::kXenPageSize; }
    // The page of `gfn`, which must be < memory_frames().
    std::byte* page(std::uint64_t gfn) const noexcept {
        return memory_.data() + gfn * xen::kXenPageSize;
    }
    std::uint32_t grant_frames() const noexcept { return grant_frames_; }
    std::span<xen::GrantEntryV1> grant_entries() const noexcept;
    wire::SharedInfoView shared_info() const noexcept { return wire::SharedInfoView(info_.data()); }

    int memory_fd() const noexcept { return memory_.fd(); }
    const MemoryIdentity& memory_identity() const noexcept { return memory_identity_; }
    int grant_table_fd() const noexcept { return grant_table_.fd(); }
    int shared_info_fd() const noexcept { return info_.fd(); }
    int active_grants_fd() const noexcept { return active_.fd(); }

    // The active entries of this domain's own grant table, shared with the
    // domains that map its grants (active_grants.hpp); take its lock first.
    const wire::ActiveGrants& active_grants() const noexcept { return active_grants_; }
    // Maptrack entries, in any domain, on this domain's memory (under the
    // active grants' lock): while non-zero a dead domain stays dying.
    std::uint64_t mapped_by_others() const;

    // `connection`'s maptrack shared with its process, made at its first
    // grant_tables call (shared_maptrack.hpp).
    os::SharedMemory& shared_maptrack(ConnectionId connection);

    // The shm objects' names, for logs.
    std::vector<std::string> shm_names() const;

    // Ports in use and live maptrack handles, for `list`.
    std::size_t port_count() const;
    std::size_t maptrack_count() const;
    // Grant maps and unmaps so far: the hypervisor's, and those the
    // domain's processes made themselves (counted in their shared
    // maptracks, and in `counters` once a connection's is gone).
    std::uint64_t grant_maps_counted() const;
    std::uint64_t grant_unmaps_counted() const;

    DomainCounters counters;

    // Event channels: kMaxEvtchnPorts entries, port 0 never used.
    std::vector<Port> ports;

    // Maptrack: handles this domain holds on others' (or its own) memory.
    std::vector<MaptrackEntry> maptrack;
    std::vector<xen::GrantHandle> maptrack_free;
    std::size_t maptrack_live = 0;
    // Which granter memory object each connection has been sent, by
    // (connection, granter domid): the granter's memory fd travels with the
    // first reply that maps that object on that connection, and never again
    // (the client keeps its views of the object until the object is
    // unlinked, hypervisor/client/session.hpp Granter), so a queue-depth-1
    // stream of maps and unmaps passes no fd per request. A domid reused by
    // a new domain names a new object, whose fd is sent again.
    std::map<std::pair<ConnectionId, xen::DomId>, MemoryIdentity> memory_sent;

    // The maptracks this domain's connections share with their processes,
    // by connection: where their own grant maps are (shared_maptrack.hpp).
    std::map<ConnectionId, os::SharedMemory> shared_maptracks;
    // A guest's xenstore event channel (Welcome::store_evtchn), once made.
    xen::EvtchnPort store_port = xen::kInvalidEvtchnPort;

  private:
    std::string shm_tag_;
    xen::DomId domid_;
    std::string name_;
    std::uint32_t grant_frames_;
    DomainLife life_ = DomainLife::running;
    os::SharedMemory memory_;
    os::SharedMemory grant_table_;
    os::SharedMemory info_;
    os::SharedMemory active_;
    wire::ActiveGrants active_grants_;
    MemoryIdentity memory_identity_;
};

// The domain a hypercall argument names: DOMID_SELF is the caller itself
// (Xen's rcu_lock_domain_by_any_id).
inline xen::DomId resolve_domid_self(xen::DomId domid, const Domain& caller) {
    return domid == xen::kDomidSelf ? caller.domid() : domid;
}

}  // namespace pvsim::hypervisor::server
