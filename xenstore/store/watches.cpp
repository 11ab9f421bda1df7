// Watch matching and event permissions as tools/xenstored/watch.c.
#include "xenstore/store/watches.hpp"

#include "xenstore/store/path.hpp"

namespace pvsim::xenstore::store {

WatchEvent capture_event(const Tree& tree, const std::string& path, bool exact,
                         std::optional<xen::xs::Permissions> old_perms) {
    WatchEvent event{path, exact, std::move(old_perms), std::nullopt, std::nullopt};
    if (const Node* node = tree.find(path)) {
        event.node_perms = node->perms;
        if (const Node* parent = tree.find(parent_of(path))) {
            event.parent_perms = parent->perms;
        }
    }
    return event;
}

bool watch_matches(const Watch& watch, std::string_view path, bool exact) {
    return exact ? path == watch.node : is_child(path, watch.node);
}

bool watch_permitted(const Caller& caller, const WatchEvent& event) {
    if (event.old_perms && (perm_for(caller, *event.old_perms) & kPermRead) != 0) {
        return true;
    }
    if (!event.node_perms) {
        return false;
    }
    if ((perm_for(caller, *event.node_perms) & kPermRead) != 0) {
        return true;
    }
    return event.parent_perms && (perm_for(caller, *event.parent_perms) & kPermRead) != 0;
}

std::string event_payload(const Watch& watch, std::string_view path) {
    std::string out(path.substr(watch.prefix_len));
    out += '\0';
    out += watch.token;
    out += '\0';
    return out;
}

std::size_t watch_memory(const Watch& watch) {
    return watch.node.size() + watch.token.size();
}

}  // namespace pvsim::xenstore::store
