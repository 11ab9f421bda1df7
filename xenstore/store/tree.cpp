// The committed tree (tools/xenstored/core.c: the nodes hash table,
// setup_structure()).
#include "xenstore/store/tree.hpp"

#include <utility>

#include "xenstore/store/path.hpp"

namespace pvsim::xenstore::store {

Tree::Tree() {
    const xen::xs::Permissions dom0_only{{xen::xs::Access::none, 0}};
    const auto make = [&](const std::string& path, std::vector<std::string> children) {
        put(path, Node{"", dom0_only, std::move(children), kNoGeneration});
    };
    make("/", {"local", "tool"});
    make("/local", {"domain"});
    make("/local/domain", {});
    make("/tool", {"xenstored"});
    make("/tool/xenstored", {});
    make(std::string(kReleaseDomain), {});
    make(std::string(kIntroduceDomain), {});
}

const Node* Tree::find(const std::string& path) const {
    const auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
}

void Tree::put(const std::string& path, Node node) {
    node.generation = next_generation();
    memory_[node.owner()] += accounted_memory(path, node);
    charged_.insert(node.owner());
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
        ++owned_[node.owner()];
        nodes_.emplace(path, std::move(node));
        return;
    }
    memory_[it->second.owner()] -= accounted_memory(path, it->second);
    charged_.insert(it->second.owner());
    if (it->second.owner() != node.owner()) {
        --owned_[it->second.owner()];
        ++owned_[node.owner()];
    }
    it->second = std::move(node);
}

void Tree::erase(const std::string& path) {
    const auto it = nodes_.find(path);
    if (it == nodes_.end()) {
        return;
    }
    --owned_[it->second.owner()];
    memory_[it->second.owner()] -= accounted_memory(path, it->second);
    charged_.insert(it->second.owner());
    nodes_.erase(it);
}

std::size_t Tree::owned(xen::DomId domid) const {
    const auto it = owned_.find(domid);
    return it == owned_.end() ? 0 : it->second;
}

std::size_t Tree::memory(xen::DomId domid) const {
    const auto it = memory_.find(domid);
    return it == memory_.end() ? 0 : it->second;
}

std::set<xen::DomId> Tree::take_charged() {
    return std::exchange(charged_, {});
}

std::vector<std::string> Tree::preorder(const std::string& root) const {
    std::vector<std::string> out;
    std::vector<std::string> stack{root};
    while (!stack.empty()) {
        std::string path = std::move(stack.back());
        stack.pop_back();
        const Node* node = find(path);
        if (node == nullptr) {
            continue;
        }
        for (auto it = node->children.rbegin(); it != node->children.rend(); ++it) {
            stack.push_back(child_path(path, *it));
        }
        out.push_back(std::move(path));
    }
    return out;
}

}  // namespace pvsim::xenstore::store
