// What a request sees of the tree: the committed tree itself, or a
// transaction's view of it (its own changes over the nodes as it first
// touched them). Request semantics are written once against this interface,
// as C xenstored's read_node()/write_node() serve both through
// transaction_prepend() and access_node() (tools/xenstored/transaction.c).
#pragma once

#include <cstddef>
#include <string>

#include "common/xen/xs_permissions.hpp"
#include "xenstore/store/node.hpp"

namespace pvsim::xenstore::store {

class NodeView {
  public:
    virtual ~NodeView() = default;

    // The node, or nullptr if absent; valid until this view next changes
    // that node. In a transaction, reading records the node's generation for
    // the conflict check, absent nodes included.
    virtual const Node* read(const std::string& path) = 0;
    // Replaces or creates the node itself; parents' child lists are the
    // caller's business.
    virtual void write(const std::string& path, Node node) = 0;
    virtual void remove(const std::string& path) = 0;

    // Nodes `domid` owns as this view sees them (the nodes quota).
    virtual std::size_t owned_nodes(xen::DomId domid) const = 0;

    // `path` changed (watch.c: fire_watches()): call after writing a node and
    // before removing one. `old_perms`: the permissions before an
    // XS_SET_PERMS. Fired at once outside a transaction, at commit inside.
    virtual void changed(const std::string& path, bool exact,
                         const xen::xs::Permissions* old_perms) = 0;
};

}  // namespace pvsim::xenstore::store
