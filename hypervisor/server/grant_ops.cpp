#include "hypervisor/server/grant_ops.hpp"

#include <cstring>
#include <limits>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "common/os/unix_socket.hpp"

namespace pvsim::hypervisor::server {
namespace {

using xen::GntSt;

}  // namespace

GntSt GrantOps::pin(Domain& granter, xen::GrantRef ref, xen::DomId caller, bool readonly, bool map,
                    std::uint64_t& frame) {
    const wire::ActiveGrants& active = granter.active_grants();
    const auto lock = active.lock();
    return active.pin(granter.grant_entries(), granter.memory_frames(), ref, caller, readonly, map,
                      frame);
}

void GrantOps::unpin(Domain& granter, xen::GrantRef ref, bool readonly) {
    const wire::ActiveGrants& active = granter.active_grants();
    const auto lock = active.lock();
    active.unpin(granter.grant_entries(), ref, readonly);
}

void GrantOps::add_mapping_of(Domain& granter, int delta) {
    const wire::ActiveGrants& active = granter.active_grants();
    const auto lock = active.lock();
    active.set_mapped_by_others(active.mapped_by_others() + static_cast<std::uint64_t>(delta));
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
    add_mapping_of(granter, 1);
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
        add_mapping_of(*granter, -1);
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
    return release_entries(domain, false, connection) + release_shared(domain, connection);
}

std::size_t GrantOps::release_all(Domain& domain) {
    domain.memory_sent.clear();
    std::size_t released = release_entries(domain, true, 0);
    while (!domain.shared_maptracks.empty()) {
        released += release_shared(domain, domain.shared_maptracks.begin()->first);
    }
    return released;
}

std::vector<os::UniqueFd> GrantOps::tables(Domain& caller, ConnectionId connection,
                                           wire::GrantTablesOp& op) {
    op.grant_entries = 0;
    op.memory_bytes = 0;
    Domain* granter = domains_.find_running(resolve_domid_self(op.dom, caller));
    if (granter == nullptr) {
        op.status = static_cast<std::int16_t>(GntSt::bad_domain);
        return {};
    }
    if (granter == &caller) {
        op.status = static_cast<std::int16_t>(GntSt::permission_denied);
        return {};
    }
    const os::SharedMemory& maptrack = caller.shared_maptrack(connection);
    op.status = static_cast<std::int16_t>(GntSt::okay);
    op.grant_entries = static_cast<std::uint32_t>(granter->grant_entries().size());
    op.memory_bytes = granter->memory_bytes();
    std::vector<os::UniqueFd> fds;
    fds.push_back(os::duplicate_fd(granter->memory_fd()));
    fds.push_back(os::duplicate_fd(granter->grant_table_fd()));
    fds.push_back(os::duplicate_fd(granter->active_grants_fd()));
    fds.push_back(os::duplicate_fd(maptrack.fd()));
    ++caller.counters.memory_fds_sent;
    return fds;
}

std::size_t GrantOps::release_shared(Domain& domain, ConnectionId connection) {
    const auto found = domain.shared_maptracks.find(connection);
    if (found == domain.shared_maptracks.end()) {
        return 0;
    }
    const wire::SharedMaptrack maptrack(found->second.bytes());
    // The process is gone, or is going with its connection: nothing writes
    // the slots any more. Every granter they name, and the one it was
    // changing if it died doing so, is counted again without them.
    std::set<xen::DomId> granters;
    std::size_t released = 0;
    const std::uint32_t used = std::min(maptrack.high_water().load(), maptrack.capacity());
    for (std::uint32_t handle = 0; handle < used; ++handle) {
        if (const auto key = maptrack.key(handle)) {
            granters.insert(key->granter);
            ++released;
        }
    }
    if (const std::uint32_t busy = maptrack.busy_granter().load(); busy != 0) {
        granters.insert(static_cast<xen::DomId>(busy - 1));
    }
    domain.counters.grant_maps += maptrack.grant_maps().load();
    domain.counters.grant_unmaps += maptrack.grant_unmaps().load();
    // Taken out of the domain first, so that the recount no longer sees it.
    const os::SharedMemory object = std::move(found->second);
    domain.shared_maptracks.erase(found);
    for (const xen::DomId domid : granters) {
        if (Domain* granter = domains_.find(domid); granter != nullptr) {
            const auto lock = granter->active_grants().lock();
            recount(*granter);
        }
    }
    return released;
}

void GrantOps::recount(Domain& granter) {
    struct Pins {
        std::uint32_t read = 0;
        std::uint32_t write = 0;
    };
    std::map<xen::GrantRef, Pins> pins;
    std::uint64_t mapped = 0;
    const auto count = [&](xen::GrantRef ref, bool readonly, bool foreign) {
        ++mapped;
        if (!foreign) {
            ++(readonly ? pins[ref].read : pins[ref].write);
        }
    };
    for (const auto& [domid, mapper] : domains_.domains()) {
        for (const MaptrackEntry& entry : mapper->maptrack) {
            if (entry.in_use && entry.granter == granter.domid()) {
                count(entry.ref, entry.readonly, entry.foreign);
            }
        }
        for (const auto& [connection, object] : mapper->shared_maptracks) {
            const wire::SharedMaptrack maptrack(object.bytes());
            const std::uint32_t used = std::min(maptrack.high_water().load(), maptrack.capacity());
            for (std::uint32_t handle = 0; handle < used; ++handle) {
                const auto key = maptrack.key(handle);
                if (key && key->granter == granter.domid()) {
                    count(key->ref, key->readonly, false);
                }
            }
        }
    }
    const wire::ActiveGrants& active = granter.active_grants();
    for (xen::GrantRef ref = 0; ref < active.size(); ++ref) {
        const wire::ActiveGrant& entry = active.entry(ref);
        const auto held = pins.find(ref);
        const Pins want = held == pins.end() ? Pins{} : held->second;
        if (entry.read_pins != want.read || entry.write_pins != want.write) {
            active.set_pins(granter.grant_entries(), ref, want.read, want.write);
        }
    }
    active.set_mapped_by_others(mapped);
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
