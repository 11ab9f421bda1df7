// Who may do what to a node (C xenstored's perm_for_conn() in
// tools/xenstored/core.c; docs/misc/xenstore.txt, "PERMISSIONS"): the
// privileged domain and a node's owner may do everything; any other domain
// gets the access of the entry naming it, else the owner entry's letter,
// which is the default for everyone. A domain acting for another (XS_SET_TARGET,
// a device model stub domain) is treated as that domain too.
#pragma once

#include <optional>

#include "common/xen/xs_permissions.hpp"

namespace pvsim::xenstore::store {

// XS_PERM_READ, XS_PERM_WRITE, XS_PERM_OWNER (xenstore_lib.h) as a mask.
inline constexpr unsigned kPermRead = 1;
inline constexpr unsigned kPermWrite = 2;
inline constexpr unsigned kPermOwner = 8;

// The domain a request speaks for.
struct Caller {
    xen::DomId domid = 0;
    std::optional<xen::DomId> target;  // XS_SET_TARGET

    // Only dom0 is privileged in pvsim (C xenstored: dom0_domid or
    // priv_domid).
    bool privileged() const { return domid == 0; }
};

// The kPerm* mask `caller` has on a node with `perms`.
unsigned perm_for(const Caller& caller, const xen::xs::Permissions& perms);

}  // namespace pvsim::xenstore::store
