// One open transaction (C xenstored's transaction.c). The transaction sees
// each node as it was when it first touched it, plus its own changes; every
// node it touched (read, written, removed, listed, or found absent) keeps the
// generation it had then. Commit fails with EAGAIN if any of those
// generations moved meanwhile, and otherwise applies the changes and fires
// the watches they call for (the "notes regarding detection and handling of
// transaction conflicts" at the top of transaction.c).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "xenstore/store/access.hpp"
#include "xenstore/store/node_view.hpp"
#include "xenstore/store/tree.hpp"
#include "xenstore/store/watches.hpp"

namespace pvsim::xenstore::store {

class Transaction final : public NodeView {
  public:
    // `node_limit`: how many distinct nodes an unprivileged caller may touch
    // (the transaction-nodes quota); touching more fails the request with
    // ENOSPC and dooms the transaction.
    Transaction(Tree& tree, Caller caller, std::size_t node_limit);

    const Node* read(const std::string& path) override;
    void write(const std::string& path, Node node) override;
    void remove(const std::string& path) override;
    std::size_t owned_nodes(xen::DomId domid) const override;
    // Charged to the transaction's domain: C xenstored keeps a copy of each
    // node a transaction writes, accounted to the connection's domain until
    // the transaction ends (core.c: get_acc_domid()).
    MemoryCharge charge(const std::string& path, const Node& node) const override;
    void write_refused() override { failed_ = true; }
    // Bytes of the copies this transaction holds (the memory quota).
    std::size_t copies_memory() const { return copies_memory_; }
    // Queued for commit (transaction.c: queue_watches()); a non-exact event
    // replaces an exact one for the same node.
    void changed(const std::string& path, bool exact,
                 const xen::xs::Permissions* old_perms) override;

    // Applies the transaction to the tree and returns the watch events to
    // fire. Throws XsError: EAGAIN on a conflict; ENOSPC if an unprivileged
    // caller's new nodes would take a domain over `node_quota`; ENOMEM if an
    // earlier failure doomed the transaction (transaction.c:
    // do_transaction_end()). The tree is unchanged when it throws.
    std::vector<WatchEvent> commit(std::size_t node_quota);

  private:
    struct Accessed {
        std::optional<Node> node;                  // as this transaction sees it; nullopt: absent
        std::uint64_t generation = kNoGeneration;  // in the tree when first touched
        std::optional<xen::xs::Permissions> original_perms;
        bool modified = false;
        bool fire_watch = false;
        bool watch_exact = false;
    };

    Accessed& access(const std::string& path);
    void count_owner(const std::optional<Node>& node, long delta);
    // Forgets the copy `entry` holds of the node at `path`, if it wrote one.
    void drop_copy(const std::string& path, const Accessed& entry);

    Tree& tree_;
    Caller caller_;
    std::size_t node_limit_;
    std::map<std::string, Accessed> accessed_;
    std::vector<std::string> order_;  // first-touch order: the order events fire in
    std::unordered_map<xen::DomId, long> owned_delta_;
    std::size_t copies_memory_ = 0;
    bool node_created_ = false;
    bool failed_ = false;
};

}  // namespace pvsim::xenstore::store
