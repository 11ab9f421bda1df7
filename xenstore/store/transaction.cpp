// Transactions as tools/xenstored/transaction.c runs them: copy on first
// access, generation check at commit.
#include "xenstore/store/transaction.hpp"

#include <cerrno>

#include "xenstore/store/error.hpp"

namespace pvsim::xenstore::store {

Transaction::Transaction(Tree& tree, Caller caller, std::size_t node_limit)
    : tree_(tree), caller_(caller), node_limit_(node_limit) {}

Transaction::Accessed& Transaction::access(const std::string& path) {
    const auto it = accessed_.find(path);
    if (it != accessed_.end()) {
        return it->second;
    }
    if (!caller_.privileged() && accessed_.size() >= node_limit_) {
        failed_ = true;  // transaction.c: access_node() fails the transaction
        throw QuotaError(ENOSPC, "transaction-nodes", node_limit_);
    }
    Accessed entry;
    if (const Node* node = tree_.find(path)) {
        entry.node = *node;
        entry.generation = node->generation;
        entry.original_perms = node->perms;
    }
    order_.push_back(path);
    return accessed_.emplace(path, std::move(entry)).first->second;
}

void Transaction::count_owner(const std::optional<Node>& node, long delta) {
    if (node) {
        owned_delta_[node->owner()] += delta;
    }
}

void Transaction::drop_copy(const std::string& path, const Accessed& entry) {
    if (entry.modified && entry.node) {
        copies_memory_ -= accounted_memory(path, *entry.node);
    }
}

const Node* Transaction::read(const std::string& path) {
    const Accessed& entry = access(path);
    return entry.node ? &*entry.node : nullptr;
}

void Transaction::write(const std::string& path, Node node) {
    Accessed& entry = access(path);
    if (!entry.node) {
        node_created_ = true;
    }
    count_owner(entry.node, -1);
    drop_copy(path, entry);
    node.generation = tree_.next_generation();
    entry.node = std::move(node);
    count_owner(entry.node, +1);
    entry.modified = true;
    copies_memory_ += accounted_memory(path, *entry.node);
}

void Transaction::remove(const std::string& path) {
    Accessed& entry = access(path);
    count_owner(entry.node, -1);
    drop_copy(path, entry);
    entry.node.reset();
    entry.modified = true;
}

std::size_t Transaction::owned_nodes(xen::DomId domid) const {
    const auto it = owned_delta_.find(domid);
    const long delta = it == owned_delta_.end() ? 0 : it->second;
    const long total = static_cast<long>(tree_.owned(domid)) + delta;
    return total > 0 ? static_cast<std::size_t>(total) : 0;
}

MemoryCharge Transaction::charge(const std::string& path, const Node& node) const {
    auto bytes = static_cast<std::int64_t>(accounted_memory(path, node));
    if (const auto it = accessed_.find(path);
        it != accessed_.end() && it->second.modified && it->second.node) {
        bytes -= static_cast<std::int64_t>(accounted_memory(path, *it->second.node));
    }
    return {caller_.domid, bytes};
}

void Transaction::changed(const std::string& path, bool exact, const xen::xs::Permissions*) {
    Accessed& entry = access(path);
    if (!entry.fire_watch) {
        entry.fire_watch = true;
        entry.watch_exact = exact;
    } else if (!exact) {
        entry.watch_exact = false;
    }
}

std::vector<WatchEvent> Transaction::commit(std::size_t node_quota) {
    if (failed_) {
        throw XsError(ENOMEM);
    }
    for (const auto& [path, entry] : accessed_) {
        const Node* now = tree_.find(path);
        if ((now ? now->generation : kNoGeneration) != entry.generation) {
            throw XsError(EAGAIN);
        }
    }
    // transaction.c: acc_fix_domains(), checked only when an unprivileged
    // caller created nodes. C xenstored refuses a total equal to the quota
    // here while allowing it outside transactions; pvsim allows it in both.
    if (node_created_ && !caller_.privileged()) {
        for (const auto& [domid, delta] : owned_delta_) {
            if (domid != 0 && delta > 0 &&
                tree_.owned(domid) + static_cast<std::size_t>(delta) > node_quota) {
                throw QuotaError(ENOSPC, "nodes", node_quota);
            }
        }
    }
    for (const std::string& path : order_) {
        Accessed& entry = accessed_.at(path);
        if (!entry.modified) {
            continue;
        }
        if (entry.node) {
            tree_.put(path, std::move(*entry.node));
        } else {
            tree_.erase(path);
        }
    }
    std::vector<WatchEvent> events;
    for (const std::string& path : order_) {
        Accessed& entry = accessed_.at(path);
        if (entry.fire_watch) {
            events.push_back(
                capture_event(tree_, path, entry.watch_exact, std::move(entry.original_perms)));
        }
    }
    accessed_.clear();
    order_.clear();
    copies_memory_ = 0;
    return events;
}

}  // namespace pvsim::xenstore::store
