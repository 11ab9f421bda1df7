// The node operations requests are made of, with C xenstored's permission
// and quota rules (tools/xenstored/core.c): looking a node up for an access
// (get_node(), errno_from_parents()), creating one with its missing parents
// (construct_node(), create_node()), and removing a subtree (rm_node()).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "xenstore/store/access.hpp"
#include "xenstore/store/node_view.hpp"
#include "xenstore/store/state.hpp"
#include "xenstore/store/xenstore.hpp"

namespace pvsim::xenstore::store {

struct Operation {
    NodeView& view;
    const Caller& caller;
    const StoreState& state;
    const Quotas& quotas() const { return state.quotas; }
};

// The memory quota for the nodes one request writes (domain.c:
// domain_memory_add_chk(), domain_chk_quota()): each write is charged
// (NodeView::charge), and the sums per domain are checked before anything
// changes. ENOMEM, and a transaction doomed, if a domain other than dom0
// would reach Quotas::memory_hard. Only growth is checked: as domain.h says,
// lowering the memory used is always allowed.
class MemoryCheck {
  public:
    explicit MemoryCheck(Operation& op) : op_(op) {}
    void add(const std::string& path, const Node& node);
    void verify() const;

  private:
    Operation& op_;
    std::map<xen::DomId, std::int64_t> bytes_;
};

// Writes `node` at `path` once MemoryCheck allows it.
void write_node(Operation& op, const std::string& path, Node node);

// The node at `path` if the caller has every kPerm* bit of `need` on it;
// nullptr if it is absent and the caller may learn that (the nearest
// existing ancestor grants one of the bits). Otherwise throws XsError(EACCES),
// so that a guest cannot probe for nodes it has no access to.
const Node* find_node(Operation& op, const std::string& path, unsigned need);

// As find_node(), but an absent node is XsError(ENOENT).
const Node& get_node(Operation& op, const std::string& path, unsigned need);

// Creates `path` with `value`, and any missing parents empty. New nodes
// inherit their parent's permissions, with an unprivileged creator as the
// owner. Throws ENOSPC past the caller's nodes or node-size quota, and
// ENOMEM at a domain's memory quota, checked before anything changes. Does not fire watches.
void create_node(Operation& op, const std::string& path, std::string value);

// ENOSPC if an unprivileged caller would store a node bigger than the
// node-size quota.
void check_node_size(const Operation& op, const Node& node);

// Removes `path` (not "/") and everything below it, firing watches for each
// removed node, children first: exactly for descendants, and for `path`
// itself also those on its ancestors.
void remove_node(Operation& op, const std::string& path);

}  // namespace pvsim::xenstore::store
