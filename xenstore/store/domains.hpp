// A domain leaving the store, by XS_RELEASE or by dying (C xenstored's
// domain.c: do_release(), check_domains() and destroy_domain()).
#pragma once

#include "common/xen/grant_table.hpp"
#include "xenstore/store/state.hpp"

namespace pvsim::xenstore::store {

// Drops the domain's connections (watches and transactions with them), its
// target link, and every node it owns with everything below (firing watches,
// as C xenstored's domain_tree_remove() does since XSA-322, so that a later
// domain with the same id inherits nothing). If the domain was introduced,
// calls DomainHooks::release and fires @releaseDomain. Returns whether it was
// introduced.
bool forget_domain(StoreState& state, xen::DomId domid);

}  // namespace pvsim::xenstore::store
