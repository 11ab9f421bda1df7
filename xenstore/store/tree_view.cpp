// Direct changes to the committed tree, collecting their watch events.
#include "xenstore/store/tree_view.hpp"

namespace pvsim::xenstore::store {

void TreeView::changed(const std::string& path, bool exact, const xen::xs::Permissions* old_perms) {
    events_.push_back(
        capture_event(tree_, path, exact,
                      old_perms ? std::optional<xen::xs::Permissions>(*old_perms) : std::nullopt));
}

}  // namespace pvsim::xenstore::store
