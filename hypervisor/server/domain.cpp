#include "hypervisor/server/domain.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "common/os/unique_fd.hpp"

namespace pvsim::hypervisor::server {
namespace {

std::string object_name(std::string_view shm_tag, xen::DomId domid, std::string_view what) {
    return os::shm_name(shm_tag, "dom" + std::to_string(domid) + "." + std::string(what));
}

os::SharedMemory make_active_grants(std::string_view shm_tag, xen::DomId domid,
                                    std::uint32_t grant_frames) {
    const auto entries = grant_frames * static_cast<std::uint32_t>(xen::kGrantEntriesPerFrame);
    os::SharedMemory object = os::SharedMemory::create(object_name(shm_tag, domid, "active-grants"),
                                                       wire::ActiveGrants::bytes_for(entries));
    wire::ActiveGrants::initialise(object.bytes(), entries);
    return object;
}

}  // namespace

Domain::Domain(std::string_view shm_tag, xen::DomId domid, std::string name,
               std::uint64_t memory_bytes, std::uint32_t grant_frames)
    : ports(wire::kMaxEvtchnPorts),
      shm_tag_(shm_tag),
      domid_(domid),
      name_(std::move(name)),
      grant_frames_(grant_frames),
      memory_(os::SharedMemory::create(object_name(shm_tag, domid, "memory"), memory_bytes)),
      grant_table_(os::SharedMemory::create(object_name(shm_tag, domid, "grant-table"),
                                            std::size_t{grant_frames} * xen::kXenPageSize)),
      info_(os::SharedMemory::create(object_name(shm_tag, domid, "shared-info"),
                                     wire::kSharedInfoBytes)),
      active_(make_active_grants(shm_tag, domid, grant_frames)),
      active_grants_(active_.bytes()) {
    struct stat st {};
    if (::fstat(memory_.fd(), &st) != 0) {
        os::throw_system_error("fstat " + memory_.name());
    }
    memory_identity_ = {static_cast<std::uint64_t>(st.st_dev),
                        static_cast<std::uint64_t>(st.st_ino)};
}

std::span<xen::GrantEntryV1> Domain::grant_entries() const noexcept {
    return {reinterpret_cast<xen::GrantEntryV1*>(grant_table_.data()),
            std::size_t{grant_frames_} * xen::kGrantEntriesPerFrame};
}

std::vector<std::string> Domain::shm_names() const {
    return {memory_.name(), grant_table_.name(), info_.name(), active_.name()};
}

std::size_t Domain::maptrack_count() const {
    std::size_t live = maptrack_live;
    for (const auto& [connection, object] : shared_maptracks) {
        const wire::SharedMaptrack slots(object.bytes());
        const std::uint32_t used = std::min(slots.high_water().load(), slots.capacity());
        for (std::uint32_t handle = 0; handle < used; ++handle) {
            live += slots.key(handle) ? 1 : 0;
        }
    }
    return live;
}

std::uint64_t Domain::grant_maps_counted() const {
    std::uint64_t total = counters.grant_maps;
    for (const auto& [connection, object] : shared_maptracks) {
        total += wire::SharedMaptrack(object.bytes()).grant_maps().load();
    }
    return total;
}

std::uint64_t Domain::grant_unmaps_counted() const {
    std::uint64_t total = counters.grant_unmaps;
    for (const auto& [connection, object] : shared_maptracks) {
        total += wire::SharedMaptrack(object.bytes()).grant_unmaps().load();
    }
    return total;
}

void Domain::set_dying() {
    life_ = DomainLife::dying;
    const auto lock = active_grants_.lock();
    active_grants_.set_dying();
}

std::uint64_t Domain::mapped_by_others() const {
    const auto lock = active_grants_.lock();
    return active_grants_.mapped_by_others();
}

os::SharedMemory& Domain::shared_maptrack(ConnectionId connection) {
    auto found = shared_maptracks.find(connection);
    if (found == shared_maptracks.end()) {
        // Nameless: it is the connection's, as a gntdev file is its
        // opener's, and goes with the connection and its process.
        os::SharedMemory object = os::SharedMemory::create_anonymous(
            shm_tag_ + ".dom" + std::to_string(domid_) + ".maptrack" + std::to_string(connection),
            wire::SharedMaptrack::bytes_for(kMaxMaptrackHandles));
        wire::SharedMaptrack::initialise(object.bytes(),
                                         static_cast<std::uint32_t>(kMaxMaptrackHandles), domid_);
        found = shared_maptracks.emplace(connection, std::move(object)).first;
    }
    return found->second;
}

std::size_t Domain::port_count() const {
    return static_cast<std::size_t>(std::count_if(ports.begin(), ports.end(), [](const Port& port) {
        return port.state != PortState::free;
    }));
}

}  // namespace pvsim::hypervisor::server
