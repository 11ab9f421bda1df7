#include "hypervisor/server/grant_ops.hpp"

#include <atomic>
#include <cstring>
#include <limits>

#include <spdlog/spdlog.h>

#include "common/os/unix_socket.hpp"

namespace pvsim::hypervisor::server {
namespace {

using xen::GntSt;

// _set_status_v1 gives up after this many lost races with the guest
// ("Shared grant entry is unstable").
constexpr int kPinRetries = 4;

// The {flags, domid} half of a v1 entry as one word, so that flags and domid
// are checked and changed together (grant_table.c: union grant_combo).
// Flags are the low 16 bits on a little-endian machine.
std::atomic_ref<std::uint32_t> flags_and_domid(xen::GrantEntryV1& entry) noexcept {
    static_assert(std::atomic_ref<std::uint32_t>::required_alignment <= alignof(xen::GrantEntryV1));
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(&entry));
}

// grant_table.c: _set_status_v1. Marks the entry GTF_reading (and
// GTF_writing for a write pin) with a compare-and-swap; while the entry is
// not yet pinned also checks its type and that it is granted to `caller`.
GntSt set_status_v1(xen::GrantEntryV1& entry, xen::DomId caller, bool readonly, bool map,
                    bool pinned) {
    const std::uint16_t type_mask = xen::kGtfTypeMask | (map ? xen::kGtfSubPage : 0);
    auto word = flags_and_domid(entry);
    std::uint32_t current = word.load(std::memory_order_acquire);
    for (int retries = 0;; ++retries) {
        const auto flags = static_cast<std::uint16_t>(current & 0xFFFFu);
        const auto domid = static_cast<xen::DomId>(current >> 16);
        if (!pinned && ((flags & type_mask) != xen::kGtfPermitAccess || domid != caller)) {
            return GntSt::general_error;  // "Bad flags (%x) or dom (%d)"
        }
        std::uint16_t desired_flags = flags | xen::kGtfReading;
        if (!readonly) {
            if ((flags & xen::kGtfReadonly) != 0) {
                return GntSt::general_error;  // "Attempt to write-pin a r/o grant entry"
            }
            desired_flags |= xen::kGtfWriting;
        }
        const std::uint32_t desired = (current & 0xFFFF0000u) | desired_flags;
        if (word.compare_exchange_strong(current, desired, std::memory_order_seq_cst)) {
            return GntSt::okay;
        }
        if (retries == kPinRetries) {
            return GntSt::general_error;  // "Shared grant entry is unstable"
        }
    }
}

}  // namespace

GntSt GrantOps::pin(Domain& granter, xen::GrantRef ref, xen::DomId caller, bool readonly, bool map,
                    std::uint64_t& frame) {
    const auto entries = granter.grant_entries();
    if (ref >= entries.size()) {
        return GntSt::bad_gntref;  // "Bad ref %#x for d%d"
    }
    xen::GrantEntryV1& entry = entries[ref];
    const auto found = granter.active_grants.find(ref);
    ActiveGrant* active = found == granter.active_grants.end() ? nullptr : &found->second;
    // map_grant_ref: "If already pinned, check the active domid".
    if (active != nullptr && active->domid != caller) {
        return GntSt::general_error;
    }
    // A first pin, or the first write pin of an entry pinned for reading
    // only, goes to the shared entry.
    if (active == nullptr || (!readonly && active->write_pins == 0)) {
        const GntSt status = set_status_v1(entry, caller, readonly, map, active != nullptr);
        if (status != GntSt::okay) {
            return status;
        }
    }
    if (active == nullptr) {
        // The frame is read after the pin, so the guest can no longer
        // change it under the mapping (it may only write it before granting).
        const std::uint32_t granted =
            std::atomic_ref<std::uint32_t>(entry.frame).load(std::memory_order_acquire);
        if (granted >= granter.memory_frames()) {
            xen::grant_flags(entry).fetch_and(
                static_cast<std::uint16_t>(~(xen::kGtfReading | xen::kGtfWriting)));
            return GntSt::bad_page;
        }
        active =
            &granter.active_grants.emplace(ref, ActiveGrant{caller, granted, 0, 0}).first->second;
    }
    ++(readonly ? active->read_pins : active->write_pins);
    frame = active->frame;
    return GntSt::okay;
}

void GrantOps::unpin(Domain& granter, xen::GrantRef ref, bool readonly) {
    const auto found = granter.active_grants.find(ref);
    if (found == granter.active_grants.end()) {
        return;
    }
    ActiveGrant& active = found->second;
    std::uint32_t& pins = readonly ? active.read_pins : active.write_pins;
    if (pins > 0) {
        --pins;
    }
    // unmap_common_complete: the last write pin clears GTF_writing, the last
    // pin of any kind GTF_reading as well.
    std::uint16_t clear = 0;
    if (active.write_pins == 0) {
        clear |= xen::kGtfWriting;
    }
    if (active.read_pins == 0 && active.write_pins == 0) {
        clear |= xen::kGtfReading;
        granter.active_grants.erase(found);
    }
    if (clear != 0 && ref < granter.grant_entries().size()) {
        xen::grant_flags(granter.grant_entries()[ref])
            .fetch_and(static_cast<std::uint16_t>(~clear), std::memory_order_seq_cst);
    }
}

bool GrantOps::maptrack_full(const Domain& domain) const {
    return domain.maptrack_free.empty() && domain.maptrack.size() >= max_maptrack_;
}

xen::GrantHandle GrantOps::add_maptrack(Domain& domain, const MaptrackEntry& entry) {
    xen::GrantHandle handle;
    if (!domain.maptrack_free.empty()) {
        handle = domain.maptrack_free.back();
        domain.maptrack_free.pop_back();
        domain.maptrack[handle] = entry;
    } else {
        handle = static_cast<xen::GrantHandle>(domain.maptrack.size());
        domain.maptrack.push_back(entry);
    }
    domain.maptrack[handle].in_use = true;
    ++domain.maptrack_live;
    return handle;
}

bool GrantOps::needs_memory_fd(const Domain& caller, ConnectionId connection,
                               const Domain& granter) {
    const auto sent = caller.memory_sent.find({connection, granter.domid()});
    return sent == caller.memory_sent.end() || sent->second != granter.memory_identity();
}

os::UniqueFd GrantOps::take_memory_ref(Domain& caller, ConnectionId connection, Domain& granter) {
    ++granter.mapped_by_others;
    if (!needs_memory_fd(caller, connection, granter)) {
        return {};
    }
    caller.memory_sent[{connection, granter.domid()}] = granter.memory_identity();
    ++caller.counters.memory_fds_sent;
    return os::duplicate_fd(granter.memory_fd());
}

void GrantOps::release_maptrack(Domain& domain, xen::GrantHandle handle) {
    MaptrackEntry& entry = domain.maptrack[handle];
    if (Domain* granter = domains_.find(entry.granter); granter != nullptr) {
        if (!entry.foreign) {
            unpin(*granter, entry.ref, entry.readonly);
        }
        --granter->mapped_by_others;
    }
    entry = MaptrackEntry{};
    domain.maptrack_free.push_back(handle);
    --domain.maptrack_live;
}

std::vector<os::UniqueFd> GrantOps::map(Domain& caller, ConnectionId connection,
                                        std::span<wire::GrantMapOp> ops) {
    std::vector<os::UniqueFd> fds;
    for (wire::GrantMapOp& op : ops) {
        op.host_addr = wire::kNoFd;
        op.dev_bus_addr = 0;
        op.handle = 0;
        const auto fail = [&op](GntSt status) { op.status = static_cast<std::int16_t>(status); };
        // map_grant_ref, in its order of checks.
        if ((op.flags & (xen::kGntmapHostMap | xen::kGntmapDeviceMap)) == 0) {
            fail(GntSt::bad_gntref);  // "Bad flags in grant map op"
            continue;
        }
        Domain* granter = domains_.find_running(op.dom);
        if (granter == nullptr) {
            fail(GntSt::bad_domain);
            continue;
        }
        if (maptrack_full(caller)) {
            fail(GntSt::no_space);
            continue;
        }
        // A reply carries at most SCM_MAX_FD fds; a batch that would need
        // more gets "out of space" for the slots past that.
        if (fds.size() == os::kMaxFdsPerMessage && needs_memory_fd(caller, connection, *granter)) {
            fail(GntSt::no_space);
            continue;
        }
        const bool readonly = (op.flags & xen::kGntmapReadonly) != 0;
        std::uint64_t frame = 0;
        const GntSt status = pin(*granter, op.ref, caller.domid(), readonly, true, frame);
        if (status != GntSt::okay) {
            fail(status);
            continue;
        }
        op.handle = add_maptrack(caller, MaptrackEntry{true, false, granter->domid(), op.ref, frame,
                                                       readonly, connection});
        if (os::UniqueFd fd = take_memory_ref(caller, connection, *granter)) {
            op.host_addr = fds.size();
            fds.push_back(std::move(fd));
        }
        op.dev_bus_addr = frame;
        op.status = static_cast<std::int16_t>(GntSt::okay);
        ++caller.counters.grant_maps;
    }
    return fds;
}

std::vector<os::UniqueFd> GrantOps::foreign_map(Domain& caller, ConnectionId connection,
                                                std::span<wire::ForeignMapOp> ops) {
    std::vector<os::UniqueFd> fds;
    for (wire::ForeignMapOp& op : ops) {
        op.host_addr = wire::kNoFd;
        op.handle = 0;
        const auto fail = [&op](GntSt status) { op.status = static_cast<std::int16_t>(status); };
        Domain* owner = domains_.find_running(resolve_domid_self(op.dom, caller));
        if (owner == nullptr) {
            fail(GntSt::bad_domain);
            continue;
        }
        if (op.gfn >= owner->memory_frames()) {
            fail(GntSt::bad_page);
            continue;
        }
        if (maptrack_full(caller) ||
            (fds.size() == os::kMaxFdsPerMessage && needs_memory_fd(caller, connection, *owner))) {
            fail(GntSt::no_space);
            continue;
        }
        const bool readonly = (op.flags & xen::kGntmapReadonly) != 0;
        op.handle = add_maptrack(
            caller, MaptrackEntry{true, true, owner->domid(), 0, op.gfn, readonly, connection});
        if (os::UniqueFd fd = take_memory_ref(caller, connection, *owner)) {
            op.host_addr = fds.size();
            fds.push_back(std::move(fd));
        }
        op.status = static_cast<std::int16_t>(GntSt::okay);
        ++caller.counters.foreign_maps;
    }
    return fds;
}

void GrantOps::unmap(Domain& caller, ConnectionId connection, std::span<wire::GrantUnmapOp> ops) {
    for (wire::GrantUnmapOp& op : ops) {
        // unmap_common: "Bad d%d handle %#x" for a handle that is not live;
        // a handle of another connection is not this one's to release, as
        // with gntdev.
        if (op.handle >= caller.maptrack.size() || !caller.maptrack[op.handle].in_use ||
            caller.maptrack[op.handle].owner != connection) {
            op.status = static_cast<std::int16_t>(GntSt::bad_handle);
            continue;
        }
        release_maptrack(caller, op.handle);
        op.status = static_cast<std::int16_t>(GntSt::okay);
        ++caller.counters.grant_unmaps;
    }
}

std::size_t GrantOps::release_entries(Domain& domain, bool all, ConnectionId connection) {
    std::size_t released = 0;
    for (std::size_t handle = 0; handle < domain.maptrack.size(); ++handle) {
        const MaptrackEntry& entry = domain.maptrack[handle];
        if (entry.in_use && (all || entry.owner == connection)) {
            release_maptrack(domain, static_cast<xen::GrantHandle>(handle));
            ++released;
        }
    }
    return released;
}

std::size_t GrantOps::release_connection(Domain& domain, ConnectionId connection) {
    // The connection, and what it was sent, is gone.
    std::erase_if(domain.memory_sent,
                  [connection](const auto& entry) { return entry.first.first == connection; });
    return release_entries(domain, false, connection);
}

std::size_t GrantOps::release_all(Domain& domain) {
    domain.memory_sent.clear();
    return release_entries(domain, true, 0);
}

void GrantOps::copy(Domain& caller, std::span<wire::GrantCopyOp> ops) {
    // One side of a copy once claimed: its domain, frame, and the pin to
    // drop afterwards (grant_table.c: struct gnttab_copy_buf).
    struct Side {
        Domain* domain = nullptr;
        std::uint64_t frame = 0;
        bool pinned = false;
        xen::GrantRef ref = 0;
        bool readonly = false;
    };
    // gnttab_copy_lock_domain (Xen 4.15 and later): the domain is looked up
    // first (GNTST_bad_domain), then "only the local domain may reference
    // via frame": a frame of any other domain is GNTST_permission_denied,
    // for dom0 as for any guest; other domains' memory is reached through
    // their grants only.
    const auto lock_domain = [&](const wire::GrantCopyPtr& ptr, bool gref, Side& side) {
        const xen::DomId domid = resolve_domid_self(ptr.domid, caller);
        side.domain = domains_.find_running(domid);
        if (side.domain == nullptr) {
            return GntSt::bad_domain;
        }
        if (!gref && side.domain != &caller) {
            side.domain = nullptr;
            return GntSt::permission_denied;
        }
        return GntSt::okay;
    };
    // gnttab_copy_claim_buf: pin a granted entry (reading for the source,
    // writing for the destination), or check the frame.
    const auto claim = [&](const wire::GrantCopyPtr& ptr, bool gref, bool readonly, Side& side) {
        if (gref) {
            if (ptr.u > std::numeric_limits<xen::GrantRef>::max()) {
                return GntSt::bad_gntref;
            }
            const auto ref = static_cast<xen::GrantRef>(ptr.u);
            const GntSt status =
                pin(*side.domain, ref, caller.domid(), readonly, false, side.frame);
            if (status == GntSt::okay) {
                side.pinned = true;
                side.ref = ref;
                side.readonly = readonly;
            }
            return status;
        }
        if (ptr.u >= side.domain->memory_frames()) {
            return GntSt::bad_page;
        }
        side.frame = ptr.u;
        return GntSt::okay;
    };
    const auto release = [&](Side& side) {
        if (side.pinned) {
            unpin(*side.domain, side.ref, side.readonly);
            side.pinned = false;
        }
    };

    for (wire::GrantCopyOp& op : ops) {
        const bool source_gref = (op.flags & xen::kGntcopySourceGref) != 0;
        const bool dest_gref = (op.flags & xen::kGntcopyDestGref) != 0;
        Side source;
        Side dest;
        GntSt status = lock_domain(op.source, source_gref, source);
        if (status == GntSt::okay) {
            status = lock_domain(op.dest, dest_gref, dest);
        }
        if (status == GntSt::okay) {
            status = claim(op.source, source_gref, true, source);
        }
        if (status == GntSt::okay) {
            status = claim(op.dest, dest_gref, false, dest);
        }
        // gnttab_copy_buf: "copy beyond page area".
        if (status == GntSt::okay && (std::size_t{op.source.offset} + op.len > xen::kXenPageSize ||
                                      std::size_t{op.dest.offset} + op.len > xen::kXenPageSize)) {
            status = GntSt::bad_copy_arg;
        }
        if (status == GntSt::okay) {
            std::memmove(dest.domain->page(dest.frame) + op.dest.offset,
                         source.domain->page(source.frame) + op.source.offset, op.len);
            ++caller.counters.grant_copies;
        }
        release(dest);
        release(source);
        op.status = static_cast<std::int16_t>(status);
    }
}

}  // namespace pvsim::hypervisor::server
