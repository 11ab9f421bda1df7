#include "xenstore/client/transport.hpp"

#include <stdexcept>
#include <string>

namespace pvsim::xenstore::client {

void check_incoming_header(const xen::xs::MessageHeader& header, std::string_view transport) {
    if (header.len > xen::xs::kPayloadMax) {
        throw std::runtime_error(
            std::string(transport) + ": xenstored sent a " +
            std::string(xen::xs::name(static_cast<xen::xs::MessageType>(header.type))) +
            " frame of " + std::to_string(header.len) + " bytes, more than the " +
            std::to_string(xen::xs::kPayloadMax) + " xs_wire.h allows");
    }
}

}  // namespace pvsim::xenstore::client
