// What a request sees of the tree: the committed tree itself, or a
// transaction's view of it (its own changes over the nodes as it first
// touched them). Request semantics are written once against this interface,
// as C xenstored's read_node()/write_node() serve both through
// transaction_prepend() and access_node() (tools/xenstored/transaction.c).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/xen/xs_permissions.hpp"
#include "xenstore/store/node.hpp"

namespace pvsim::xenstore::store {

// Who a write is charged to against the memory quota, and by how many bytes
// it changes what they hold (negative: it frees some).
struct MemoryCharge {
    xen::DomId domid = 0;
    std::int64_t bytes = 0;
};

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

    // What writing `node` at `path` would charge (core.c: do_tdb_write()):
    // the node's owner, for the tree; the transaction's domain, for the copy
    // a transaction keeps until it ends.
    virtual MemoryCharge charge(const std::string& path, const Node& node) const = 0;
    // A write this view was asked for was refused: a transaction is doomed
    // (core.c: write_node() calls fail_transaction()).
    virtual void write_refused() {}

    // `path` changed (watch.c: fire_watches()): call after writing a node and
    // before removing one. `old_perms`: the permissions before an
    // XS_SET_PERMS. Fired at once outside a transaction, at commit inside.
    virtual void changed(const std::string& path, bool exact,
                         const xen::xs::Permissions* old_perms) = 0;
};

}  // namespace pvsim::xenstore::store
