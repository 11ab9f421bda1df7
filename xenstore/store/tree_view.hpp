// Requests outside a transaction act on the committed tree directly; the
// watch events they cause are collected, with the permissions of the moment,
// for Xenstore to fire before it replies (C xenstored fires them from inside
// the request, before send_ack()).
#pragma once

#include <vector>

#include "xenstore/store/node_view.hpp"
#include "xenstore/store/tree.hpp"
#include "xenstore/store/watches.hpp"

namespace pvsim::xenstore::store {

class TreeView final : public NodeView {
  public:
    TreeView(Tree& tree, std::vector<WatchEvent>& events) : tree_(tree), events_(events) {}

    const Node* read(const std::string& path) override { return tree_.find(path); }
    void write(const std::string& path, Node node) override { tree_.put(path, std::move(node)); }
    void remove(const std::string& path) override { tree_.erase(path); }
    std::size_t owned_nodes(xen::DomId domid) const override { return tree_.owned(domid); }
    MemoryCharge charge(const std::string& path, const Node& node) const override;
    void changed(const std::string& path, bool exact,
                 const xen::xs::Permissions* old_perms) override;

  private:
    Tree& tree_;
    std::vector<WatchEvent>& events_;
};

}  // namespace pvsim::xenstore::store
