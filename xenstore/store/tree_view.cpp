// Direct changes to the committed tree, collecting their watch events.
#include "xenstore/store/tree_view.hpp"

namespace pvsim::xenstore::store {

MemoryCharge TreeView::charge(const std::string& path, const Node& node) const {
    auto bytes = static_cast<std::int64_t>(accounted_memory(path, node));
    if (const Node* old = tree_.find(path); old != nullptr && old->owner() == node.owner()) {
        bytes -= static_cast<std::int64_t>(accounted_memory(path, *old));
    }
    return {node.owner(), bytes};
}

void TreeView::changed(const std::string& path, bool exact, const xen::xs::Permissions* old_perms) {
    events_.push_back(
        capture_event(tree_, path, exact,
                      old_perms ? std::optional<xen::xs::Permissions>(*old_perms) : std::nullopt));
}

}  // namespace pvsim::xenstore::store
