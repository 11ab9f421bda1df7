// The committed xenstore tree: every node by its absolute name, as C
// xenstored keeps them in one hash table (tools/xenstored/core.c), plus the
// global generation counter, and how many nodes each domain owns and how
// many bytes they take (the nodes and memory quotas). Transactions and requests change it through a
// NodeView.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "xenstore/store/node.hpp"

namespace pvsim::xenstore::store {

class Tree {
  public:
    // The initial nodes, all owned by dom0 with no access for others ("n0"):
    // "/", "/tool" and "/tool/xenstored" and the two special watch nodes, as
    // C xenstored's setup_structure() makes them, and "/local/domain", which
    // xen-init-dom0 creates on a real host before any toolstack runs.
    Tree();

    // The node, or nullptr. Valid until that node is put or erased.
    const Node* find(const std::string& path) const;
    // Stores `node` under `path` with a new generation.
    void put(const std::string& path, Node node);
    void erase(const std::string& path);

    // The next value of the global generation counter (transaction.c: each
    // copy of it into a node or transaction increments it first).
    std::uint64_t next_generation() { return ++generation_; }

    std::size_t owned(xen::DomId domid) const;
    // Bytes of the nodes `domid` owns (accounted_memory()).
    std::size_t memory(xen::DomId domid) const;
    // The domains whose memory changed since the last call: each is
    // charged (or credited) for a node, whoever asked (4.17's
    // domain_memory_add() checks the quota of the domain it charges).
    std::set<xen::DomId> take_charged();

    // `root` and every node below it, parents before children, children in
    // creation order.
    std::vector<std::string> preorder(const std::string& root) const;

    std::size_t size() const { return nodes_.size(); }

  private:
    std::unordered_map<std::string, Node> nodes_;
    std::unordered_map<xen::DomId, std::size_t> owned_;
    std::unordered_map<xen::DomId, std::size_t> memory_;
    std::set<xen::DomId> charged_;
    std::uint64_t generation_ = 0;
};

}  // namespace pvsim::xenstore::store
