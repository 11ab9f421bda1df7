#include "hypervisor/server/domain.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "common/os/unique_fd.hpp"

namespace pvsim::hypervisor::server {
namespace {

std::string object_name(std::string_view shm_tag, xen::DomId domid, std::string_view what) {
    return os::shm_name(shm_tag, "dom" + std::to_string(domid) + "." + std::string(what));
}

}  // namespace

Domain::Domain(std::string_view shm_tag, xen::DomId domid, std::string name,
               std::uint64_t memory_bytes, std::uint32_t grant_frames)
    : ports(wire::kMaxEvtchnPorts),
      domid_(domid),
      name_(std::move(name)),
      grant_frames_(grant_frames),
      memory_(os::SharedMemory::create(object_name(shm_tag, domid, "memory"), memory_bytes)),
      grant_table_(os::SharedMemory::create(object_name(shm_tag, domid, "grant-table"),
                                            std::size_t{grant_frames} * xen::kXenPageSize)),
      info_(os::SharedMemory::create(object_name(shm_tag, domid, "shared-info"),
                                     wire::kSharedInfoBytes)) {
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
    return {memory_.name(), grant_table_.name(), info_.name()};
}

std::size_t Domain::port_count() const {
    return static_cast<std::size_t>(std::count_if(ports.begin(), ports.end(), [](const Port& port) {
        return port.state != PortState::free;
    }));
}

}  // namespace pvsim::hypervisor::server
