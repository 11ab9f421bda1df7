// Node lookup, creation and removal under C xenstored's rules
// (tools/xenstored/core.c).
#include "xenstore/store/node_ops.hpp"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"

namespace pvsim::xenstore::store {
namespace {

// core.c: errno_from_parents() and ask_parents(): a failure is reported as it
// is only if the nearest existing ancestor grants the caller part of `need`.
int errno_from_parents(Operation& op, const std::string& path, int errnum, unsigned need) {
    std::string name = path;
    const Node* ancestor = nullptr;
    do {
        name = parent_of(name);
        ancestor = op.view.read(name);
    } while (ancestor == nullptr && name != "/");
    const unsigned perm = ancestor ? perm_for(op.caller, ancestor->perms) : 0;
    return (perm & need) != 0 ? errnum : EACCES;
}

}  // namespace

const Node* find_node(Operation& op, const std::string& path, unsigned need) {
    const Node* node = op.view.read(path);
    if (node != nullptr && (perm_for(op.caller, node->perms) & need) == need) {
        return node;
    }
    const int error = errno_from_parents(op, path, node ? EACCES : ENOENT, need);
    if (error == ENOENT) {
        return nullptr;
    }
    throw XsError(error);
}

const Node& get_node(Operation& op, const std::string& path, unsigned need) {
    const Node* node = find_node(op, path, need);
    if (node == nullptr) {
        throw XsError(ENOENT);
    }
    return *node;
}

void MemoryCheck::add(const std::string& path, const Node& node) {
    const MemoryCharge charge = op_.view.charge(path, node);
    bytes_[charge.domid] += charge.bytes;
}

void MemoryCheck::verify() const {
    const std::size_t hard = op_.quotas().memory_hard;
    if (hard == 0) {
        return;
    }
    for (const auto& [domid, bytes] : bytes_) {
        if (domid != 0 && bytes > 0 &&
            op_.state.memory_of(domid) + static_cast<std::size_t>(bytes) >= hard) {
            op_.view.write_refused();
            throw QuotaError(
                ENOMEM, "memory", hard,
                domid == op_.caller.domid ? std::nullopt : std::optional<xen::DomId>(domid));
        }
    }
}

void write_node(Operation& op, const std::string& path, Node node) {
    MemoryCheck check(op);
    check.add(path, node);
    check.verify();
    op.view.write(path, std::move(node));
}

void check_node_size(const Operation& op, const Node& node) {
    if (!op.caller.privileged() && accounted_size(node) > op.quotas().node_size) {
        throw QuotaError(ENOSPC, "node-size", op.quotas().node_size);
    }
}

void create_node(Operation& op, const std::string& path, std::string value) {
    // Walk up to the nearest existing node; everything on the way is created.
    std::vector<std::string> missing{path};
    std::string parent_name = parent_of(path);
    const Node* parent = nullptr;
    while ((parent = op.view.read(parent_name)) == nullptr) {
        if (parent_name == "/") {
            throw XsError(ENOENT);
        }
        missing.push_back(parent_name);
        parent_name = parent_of(parent_name);
    }
    const bool unprivileged = !op.caller.privileged();
    if (unprivileged && op.view.owned_nodes(op.caller.domid) + missing.size() > op.quotas().nodes) {
        throw QuotaError(ENOSPC, "nodes", op.quotas().nodes);
    }

    Node parent_copy = *parent;
    parent_copy.children.emplace_back(basename(missing.back()));
    check_node_size(op, parent_copy);

    xen::xs::Permissions perms = parent->perms;
    if (unprivileged) {
        perms.front().domid = op.caller.domid;
    }
    std::vector<Node> created;
    for (std::size_t i = missing.size(); i-- > 0;) {
        Node node{"", perms, {}, kNoGeneration};
        if (i > 0) {
            node.children.emplace_back(basename(missing[i - 1]));
        } else {
            node.value = std::move(value);
        }
        check_node_size(op, node);
        created.push_back(std::move(node));
    }
    MemoryCheck memory(op);
    for (std::size_t i = 0; i < created.size(); ++i) {
        memory.add(missing[missing.size() - 1 - i], created[i]);
    }
    memory.add(parent_name, parent_copy);
    memory.verify();

    for (std::size_t i = 0; i < created.size(); ++i) {
        op.view.write(missing[missing.size() - 1 - i], std::move(created[i]));
    }
    op.view.write(parent_name, std::move(parent_copy));
}

void remove_node(Operation& op, const std::string& path) {
    const std::string parent_name = parent_of(path);
    const Node* parent = op.view.read(parent_name);
    if (parent == nullptr) {
        throw XsError(EINVAL);  // core.c: rm_node()
    }
    Node parent_copy = *parent;

    // Post-order walk (core.c: walk_node_tree() with delnode_sub() on exit),
    // by hand because a path may be ~1500 levels deep.
    struct Frame {
        std::string path;
        std::vector<std::string> children;
        std::size_t next = 0;
    };
    std::vector<Frame> stack;
    const auto enter = [&](std::string name) {
        if (const Node* node = op.view.read(name)) {
            stack.push_back(Frame{std::move(name), node->children, 0});
        }
    };
    enter(path);
    while (!stack.empty()) {
        Frame& frame = stack.back();
        if (frame.next < frame.children.size()) {
            std::string child = child_path(frame.path, frame.children[frame.next++]);
            enter(std::move(child));
            continue;
        }
        const std::string name = std::move(frame.path);
        stack.pop_back();
        op.view.changed(name, name != path, nullptr);
        op.view.remove(name);
    }

    auto& children = parent_copy.children;
    children.erase(std::remove(children.begin(), children.end(), basename(path)), children.end());
    op.view.write(parent_name, std::move(parent_copy));
}

}  // namespace pvsim::xenstore::store
