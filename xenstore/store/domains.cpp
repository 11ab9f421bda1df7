// Forgetting a released or dead domain (tools/xenstored/domain.c).
#include "xenstore/store/domains.hpp"

#include <vector>

#include "xenstore/store/node_ops.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/tree_view.hpp"

namespace pvsim::xenstore::store {
namespace {

// domain.c: domain_tree_remove(): the topmost nodes `domid` owns under "/".
std::vector<std::string> owned_subtrees(const Tree& tree, xen::DomId domid) {
    std::vector<std::string> out;
    std::vector<std::string> stack{"/"};
    while (!stack.empty()) {
        std::string path = std::move(stack.back());
        stack.pop_back();
        const Node* node = tree.find(path);
        if (node == nullptr) {
            continue;
        }
        if (path != "/" && node->owner() == domid) {
            out.push_back(std::move(path));
            continue;
        }
        for (auto it = node->children.rbegin(); it != node->children.rend(); ++it) {
            stack.push_back(child_path(path, *it));
        }
    }
    return out;
}

}  // namespace

bool forget_domain(StoreState& state, xen::DomId domid) {
    for (auto it = state.connections.begin(); it != state.connections.end();) {
        it = it->second.domid == domid ? state.connections.erase(it) : std::next(it);
    }
    state.targets.erase(domid);
    state.soft_memory.erase(domid);
    for (auto it = state.targets.begin(); it != state.targets.end();) {
        it = it->second == domid ? state.targets.erase(it) : std::next(it);
    }

    if (state.tree.owned(domid) > 0) {
        std::vector<WatchEvent> events;
        TreeView view(state.tree, events);
        const Caller store_itself{0, std::nullopt};
        Operation op{view, store_itself, state};
        for (const std::string& path : owned_subtrees(state.tree, domid)) {
            remove_node(op, path);
        }
        for (const WatchEvent& event : events) {
            state.fire(event);
        }
    }

    if (state.introduced.erase(domid) == 0) {
        return false;
    }
    state.hooks.release(domid);
    state.fire(capture_event(state.tree, std::string(kReleaseDomain), true, std::nullopt));
    return true;
}

}  // namespace pvsim::xenstore::store
