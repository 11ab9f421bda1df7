#include "tools/toolstack/xs_cleanup.hpp"

namespace pvsim::tools::toolstack {

void rm_if_present(xenstore::client::Transaction& t, const std::string& path) {
    if (t.try_read(path)) {
        t.rm(path);
    }
}

void remove_with_empty_parent(xenstore::client::Transaction& t, const std::string& path) {
    rm_if_present(t, path);
    const std::string parent = path.substr(0, path.rfind('/'));
    if (t.try_read(parent) && t.directory(parent).empty()) {
        t.rm(parent);
    }
}

}  // namespace pvsim::tools::toolstack
