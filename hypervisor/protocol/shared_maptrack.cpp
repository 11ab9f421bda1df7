#include "hypervisor/protocol/shared_maptrack.hpp"

#include <stdexcept>
#include <string>

namespace pvsim::hypervisor::wire {

void SharedMaptrack::initialise(std::span<std::byte> object, std::uint32_t capacity,
                                xen::DomId domid) {
    if (object.size() < bytes_for(capacity)) {
        throw std::invalid_argument("maptrack: the object is too small");
    }
    auto* header = reinterpret_cast<SharedMaptrackHeader*>(object.data());
    header->capacity = capacity;
    header->domid = domid;
    header->magic = kSharedMaptrackMagic;
}

SharedMaptrack::SharedMaptrack(std::span<std::byte> object)
    : header_(reinterpret_cast<SharedMaptrackHeader*>(object.data())),
      slots_(reinterpret_cast<MaptrackSlot*>(object.data() + sizeof(SharedMaptrackHeader))) {
    if (object.size() < sizeof(SharedMaptrackHeader) || header_->magic != kSharedMaptrackMagic ||
        object.size() < bytes_for(header_->capacity)) {
        throw std::runtime_error("maptrack: the object of " + std::to_string(object.size()) +
                                 " bytes is not a maptrack");
    }
}

}  // namespace pvsim::hypervisor::wire
