// One xenstore node as C xenstored keeps it (tools/xenstored/core.h: struct
// node, struct node_hdr): a value (any bytes), a permission list, the names
// of its children in creation order, and a generation number that moves on
// every change, which is what transactions check for conflicts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/xen/xs_permissions.hpp"

namespace pvsim::xenstore::store {

// core.h: NO_GENERATION, the generation of a node that does not exist.
inline constexpr std::uint64_t kNoGeneration = ~std::uint64_t{0};

struct Node {
    std::string value;
    xen::xs::Permissions perms;  // never empty: entry 0 is the owner
    std::vector<std::string> children;
    std::uint64_t generation = kNoGeneration;

    xen::DomId owner() const { return perms.front().domid; }
};

// The node's size as the node-size quota counts it (core.c:
// calc_node_acc_size): the 16-byte node_hdr, 8 bytes per permission, the
// value, and the nul-terminated child names.
std::size_t accounted_size(const Node& node);

// What the node costs its owner against the memory quota (core.c:
// do_tdb_write(), which charges the record and its key): the accounted size
// and the node's name.
std::size_t accounted_memory(const std::string& path, const Node& node);

// The children as XS_DIRECTORY sends them: each name nul-terminated.
std::string children_list(const Node& node);

}  // namespace pvsim::xenstore::store
