// Delivering watch events to the connections that may hear of them
// (tools/xenstored/watch.c: fire_watches(); core.c: send_event()).
#include "xenstore/store/state.hpp"

namespace pvsim::xenstore::store {

Caller StoreState::caller_of(const Connection& connection) const {
    Caller caller{connection.domid, std::nullopt};
    if (const auto it = targets.find(connection.domid); it != targets.end()) {
        caller.target = it->second;
    }
    return caller;
}

void StoreState::fire(const WatchEvent& event) {
    for (const auto& [id, connection] : connections) {
        bool checked = false;
        bool permitted = false;
        for (const Watch& watch : connection.watches) {
            if (!watch_matches(watch, event.path, event.exact)) {
                continue;
            }
            if (!checked) {
                permitted = watch_permitted(caller_of(connection), event);
                checked = true;
            }
            if (permitted) {
                send_event(id, event_payload(watch, event.path));
            }
        }
    }
}

void StoreState::send_event(ConnectionId connection, std::string_view payload) {
    if (payload.size() > xen::xs::kPayloadMax) {
        return;
    }
    send(connection, static_cast<std::uint32_t>(xen::xs::MessageType::watch_event), 0, 0, payload);
}

void StoreState::send(ConnectionId connection, std::uint32_t type, std::uint32_t req_id,
                      std::uint32_t tx_id, std::string_view payload) {
    const xen::xs::MessageHeader header{type, req_id, tx_id,
                                        static_cast<std::uint32_t>(payload.size())};
    outbox.deliver(connection, header, payload);
}

}  // namespace pvsim::xenstore::store
