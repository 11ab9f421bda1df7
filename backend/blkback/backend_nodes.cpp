#include "backend/blkback/backend_nodes.hpp"

namespace pvsim::backend::blkback {

bool write_backend_nodes(xenstore::client::XenbusDevice& device,
                         std::initializer_list<BackendNode> nodes) {
    return device.client().transact([&](xenstore::client::Transaction& t) {
        if (!t.try_read(device.node("state"))) {
            return false;
        }
        for (const auto& [key, value] : nodes) {
            t.write(device.node(key), value);
        }
        return true;
    });
}

}  // namespace pvsim::backend::blkback
