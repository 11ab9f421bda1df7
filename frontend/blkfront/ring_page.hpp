// The shared ring page of one blkfront ring (Linux xenbus_client.c
// xenbus_setup_ring / xenbus_teardown_ring): a page of the guest's own
// memory, initialised as an empty ring (SHARED_RING_INIT) before it is
// granted to the backend domain, so the backend never sees it half-made.
//
// Destruction ends the grant. If the backend still has the page mapped the
// access cannot end; the ref is then parked in the grant table and the page
// is left allocated rather than reused while another domain can write it
// (Linux defers freeing it the same way, gnttab_end_foreign_access).
#pragma once

#include <cstddef>

#include "common/xen/blkif.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

class RingPage {
  public:
    // Allocates, initialises and grants (read/write) one page to `backend`.
    RingPage(hypervisor::Hypervisor& hypervisor, xen::DomId backend);
    ~RingPage();
    RingPage(const RingPage&) = delete;
    RingPage& operator=(const RingPage&) = delete;

    xen::GrantRef ref() const noexcept { return ref_; }
    hypervisor::Gfn gfn() const noexcept { return gfn_; }
    void* area() const noexcept { return area_; }
    static constexpr std::size_t bytes() noexcept { return xen::kXenPageSize; }

  private:
    hypervisor::Hypervisor& hypervisor_;
    hypervisor::Gfn gfn_;
    void* area_;
    xen::GrantRef ref_;
};

}  // namespace pvsim::frontend::blkfront
