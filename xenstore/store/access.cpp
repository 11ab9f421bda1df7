// Permission checks as tools/xenstored/core.c: perm_for_conn().
#include "xenstore/store/access.hpp"

namespace pvsim::xenstore::store {
namespace {

unsigned mask(xen::xs::Access access) {
    return (xen::xs::allows_read(access) ? kPermRead : 0u) |
           (xen::xs::allows_write(access) ? kPermWrite : 0u);
}

}  // namespace

unsigned perm_for(const Caller& caller, const xen::xs::Permissions& perms) {
    if (perms.empty()) {
        return 0;
    }
    const auto is_caller = [&caller](xen::DomId domid) {
        return domid == caller.domid || (caller.target && domid == *caller.target);
    };
    if (caller.privileged() || is_caller(perms.front().domid)) {
        return kPermRead | kPermWrite | kPermOwner;
    }
    for (std::size_t i = 1; i < perms.size(); ++i) {
        if (is_caller(perms[i].domid)) {
            return mask(perms[i].access);
        }
    }
    return mask(perms.front().access);
}

}  // namespace pvsim::xenstore::store
