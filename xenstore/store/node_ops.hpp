// The node operations requests are made of, with C xenstored's permission
// and quota rules (tools/xenstored/core.c): looking a node up for an access
// (get_node(), errno_from_parents()), creating one with its missing parents
// (construct_node(), create_node()), and removing a subtree (rm_node()).
#pragma once

#include <string>

#include "xenstore/store/access.hpp"
#include "xenstore/store/node_view.hpp"
#include "xenstore/store/xenstore.hpp"

namespace pvsim::xenstore::store {

struct Operation {
    NodeView& view;
    const Caller& caller;
    const Quotas& quotas;
};

// The node at `path` if the caller has every kPerm* bit of `need` on it;
// nullptr if it is absent and the caller may learn that (the nearest
// existing ancestor grants one of the bits). Otherwise throws XsError(EACCES),
// so that a guest cannot probe for nodes it has no access to.
const Node* find_node(Operation& op, const std::string& path, unsigned need);

// As find_node(), but an absent node is XsError(ENOENT).
const Node& get_node(Operation& op, const std::string& path, unsigned need);

// Creates `path` with `value`, and any missing parents empty. New nodes
// inherit their parent's permissions, with an unprivileged creator as the
// owner. Throws ENOSPC past the caller's nodes or node-size quota, checked
// before anything changes. Does not fire watches.
void create_node(Operation& op, const std::string& path, std::string value);

// ENOSPC if an unprivileged caller would store a node bigger than the
// node-size quota.
void check_node_size(const Operation& op, const Node& node);

// Removes `path` (not "/") and everything below it, firing watches for each
// removed node, children first: exactly for descendants, and for `path`
// itself also those on its ancestors.
void remove_node(Operation& op, const std::string& path);

}  // namespace pvsim::xenstore::store
