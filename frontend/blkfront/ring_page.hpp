// The shared ring pages of one blkfront ring (Linux xenbus_client.c
// xenbus_setup_ring / xenbus_teardown_ring): 2^order contiguous pages of
// the guest's own memory (alloc_pages_exact), initialised as an empty ring
// (SHARED_RING_INIT) before each is granted to the backend domain, so the
// backend never sees it half-made; ring-ref, or ring-ref0..N-1 with
// ring-page-order, name them in order.
//
// Destruction ends the grant. If the backend still has the page mapped the
// access cannot end; the ref is then parked in the grant table and the page
// is left allocated rather than reused while another domain can write it
// (Linux defers freeing it the same way, gnttab_end_foreign_access).
#pragma once

#include <cstddef>
#include <vector>

#include "common/xen/blkif.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

class RingPage {
  public:
    // Allocates 2^order contiguous frames (order at most
    // kBlkifMaxRingPageOrder), initialises them as one ring and grants each
    // (read/write) to `backend`. Throws std::bad_alloc when memory or the
    // grant table cannot give them.
    RingPage(hypervisor::Hypervisor& hypervisor, xen::DomId backend, unsigned order = 0);
    ~RingPage();
    RingPage(const RingPage&) = delete;
    RingPage& operator=(const RingPage&) = delete;

    // The first page's ref (ring-ref of a one-page ring).
    xen::GrantRef ref() const noexcept { return refs_.front(); }
    const std::vector<xen::GrantRef>& refs() const noexcept { return refs_; }
    hypervisor::Gfn gfn() const noexcept { return gfn_; }
    unsigned order() const noexcept { return order_; }
    void* area() const noexcept { return area_; }
    // The bytes of a one-page ring, and of this one.
    static constexpr std::size_t bytes() noexcept { return xen::kXenPageSize; }
    std::size_t size_bytes() const noexcept { return xen::ring_bytes_for_order(order_); }

  private:
    hypervisor::Hypervisor& hypervisor_;
    unsigned order_;
    hypervisor::Gfn gfn_;
    void* area_;
    std::vector<xen::GrantRef> refs_;
};

}  // namespace pvsim::frontend::blkfront
