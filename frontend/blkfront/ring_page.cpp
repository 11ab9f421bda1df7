#include "frontend/blkfront/ring_page.hpp"

#include <spdlog/spdlog.h>

namespace pvsim::frontend::blkfront {

RingPage::RingPage(hypervisor::Hypervisor& hypervisor, xen::DomId backend)
    : hypervisor_(hypervisor),
      gfn_(hypervisor.memory().allocate_page()),
      area_(hypervisor.memory().page(gfn_).data()) {
    try {
        xen::BlkifFrontRing::init_shared(area_, bytes());
        ref_ = hypervisor_.grant_table().grant_access(backend, gfn_, false);
    } catch (...) {
        hypervisor_.memory().free_page(gfn_);
        throw;
    }
}

RingPage::~RingPage() {
    try {
        if (hypervisor_.grant_table().try_end_access(ref_)) {
            hypervisor_.memory().free_page(gfn_);
            return;
        }
        hypervisor_.grant_table().end_access(ref_);
        spdlog::warn(
            "blkfront: ring page gfn {} (grant ref {}) is still mapped by the backend; "
            "leaving it allocated",
            gfn_, ref_);
    } catch (const std::exception& e) {
        spdlog::error("blkfront: releasing ring page gfn {}: {}", gfn_, e.what());
    }
}

}  // namespace pvsim::frontend::blkfront
