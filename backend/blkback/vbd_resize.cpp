#include "backend/blkback/vbd_resize.hpp"

#include <string>

#include "backend/blkback/backend_nodes.hpp"

namespace pvsim::backend::blkback {

bool write_vbd_resize(xenstore::client::XenbusDevice& device, std::uint64_t sectors) {
    // "Write the current state; we will use this to synchronize the
    // front-end. If the current state is "connected" the front-end will get
    // the new size information online."
    return write_backend_nodes(device,
                               {{"sectors", std::to_string(sectors)},
                                {"state", std::to_string(static_cast<unsigned>(device.state()))}});
}

}  // namespace pvsim::backend::blkback
