// Watches (docs/misc/xenstore.txt, "WATCH"; C xenstored's watch.c): which
// registered watch a change fires, what its event says, and who may hear of
// it. A change of a node fires the watches set on it or on any ancestor
// (removal also fires those set exactly on each removed descendant), and the
// event names the changed node, relative to the caller's domain path if the
// watch was set with a relative path.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/xs_permissions.hpp"
#include "xenstore/store/access.hpp"
#include "xenstore/store/tree.hpp"

namespace pvsim::xenstore::store {

struct Watch {
    std::string node;  // absolute (canonical) path or special path
    std::string token;
    std::size_t prefix_len = 0;  // domain path + '/' to strip from events (relative watch)
};

// A change that may fire watches (watch.c: fire_watches() arguments), with
// the permissions that decide who may hear of it captured when it happened:
// a connection hears of it if it may read the node as it was (old_perms, for
// a permission change or a change in a transaction), or as it is, or may
// read its parent (watch_permitted()).
struct WatchEvent {
    std::string path;
    bool exact = false;  // only watches set on `path` itself (a removed descendant)
    std::optional<xen::xs::Permissions> old_perms;
    std::optional<xen::xs::Permissions> node_perms;    // nullopt: the node is gone
    std::optional<xen::xs::Permissions> parent_perms;  // looked up only with the node
};

// What the watch costs its domain against the memory quota: its path and
// token (watch.c: do_watch()).
std::size_t watch_memory(const Watch& watch);

// The event for `path` as the tree stands now.
WatchEvent capture_event(const Tree& tree, const std::string& path, bool exact,
                         std::optional<xen::xs::Permissions> old_perms);

bool watch_matches(const Watch& watch, std::string_view path, bool exact);

bool watch_permitted(const Caller& caller, const WatchEvent& event);

// The XS_WATCH_EVENT payload, "<path>\0<token>\0", the path as the watcher
// set it (relative or absolute).
std::string event_payload(const Watch& watch, std::string_view path);

}  // namespace pvsim::xenstore::store
