// Node sizes and child lists as C xenstored lays them out.
#include "xenstore/store/node.hpp"

namespace pvsim::xenstore::store {
namespace {

constexpr std::size_t kNodeHeaderBytes = 16;  // struct node_hdr
constexpr std::size_t kPermissionBytes = 8;   // struct xs_permissions

}  // namespace

std::size_t accounted_size(const Node& node) {
    std::size_t size = kNodeHeaderBytes + node.perms.size() * kPermissionBytes + node.value.size();
    for (const std::string& child : node.children) {
        size += child.size() + 1;
    }
    return size;
}

std::size_t accounted_memory(const std::string& path, const Node& node) {
    return accounted_size(node) + path.size();
}

std::string children_list(const Node& node) {
    std::string out;
    for (const std::string& child : node.children) {
        out += child;
        out += '\0';
    }
    return out;
}

}  // namespace pvsim::xenstore::store
