#include "frontend/blkfront/ring_page.hpp"

#include <algorithm>
#include <new>
#include <set>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

namespace pvsim::frontend::blkfront {
namespace {

// How many single frames to take while looking for a contiguous run before
// giving up (DomainMemory hands out frames one at a time, most recently
// freed first; on a guest's fresh memory consecutive ones come at once).
constexpr std::size_t kContiguousAttempts = 4096;

// The first of `count` consecutive free frames, all now allocated.
hypervisor::Gfn allocate_contiguous(hypervisor::DomainMemory& memory, std::size_t count) {
    if (count == 1) {
        return memory.allocate_page();
    }
    std::set<hypervisor::Gfn> taken;
    const auto give_back = [&](hypervisor::Gfn keep_from) {
        for (hypervisor::Gfn gfn : taken) {
            if (gfn < keep_from || gfn >= keep_from + count) {
                memory.free_page(gfn);
            }
        }
    };
    try {
        for (std::size_t attempt = 0; attempt < kContiguousAttempts; ++attempt) {
            const hypervisor::Gfn gfn = memory.allocate_page();
            taken.insert(gfn);
            // The run through `gfn`.
            hypervisor::Gfn first = gfn;
            while (first > 0 && taken.contains(first - 1)) {
                --first;
            }
            hypervisor::Gfn last = gfn;
            while (taken.contains(last + 1)) {
                ++last;
            }
            if (last - first + 1 >= count) {
                give_back(first);
                return first;
            }
        }
    } catch (const std::bad_alloc&) {
        give_back(0 - hypervisor::Gfn{1});
        throw;
    }
    give_back(0 - hypervisor::Gfn{1});
    throw std::bad_alloc();
}

}  // namespace

RingPage::RingPage(hypervisor::Hypervisor& hypervisor, xen::DomId backend, unsigned order)
    : hypervisor_(hypervisor), order_(order), gfn_(0), area_(nullptr) {
    if (order > xen::kBlkifMaxRingPageOrder) {
        throw std::invalid_argument("blkfront: ring page order " + std::to_string(order) +
                                    " is above " + std::to_string(xen::kBlkifMaxRingPageOrder));
    }
    const std::size_t pages = std::size_t{1} << order;
    gfn_ = allocate_contiguous(hypervisor_.memory(), pages);
    area_ = hypervisor_.memory().page(gfn_).data();
    try {
        // SHARED_RING_INIT touches the header alone, the same in every
        // layout: the slots are the data plane's (native or x86_32-abi).
        xen::BlkifFrontRing::init_shared(area_, size_bytes());
        for (std::size_t i = 0; i < pages; ++i) {
            refs_.push_back(hypervisor_.grant_table().grant_access(backend, gfn_ + i, false));
        }
    } catch (...) {
        for (xen::GrantRef ref : refs_) {
            hypervisor_.grant_table().try_end_access(ref);
        }
        for (std::size_t i = 0; i < pages; ++i) {
            hypervisor_.memory().free_page(gfn_ + i);
        }
        throw;
    }
}

RingPage::~RingPage() {
    for (std::size_t i = 0; i < refs_.size(); ++i) {
        const hypervisor::Gfn gfn = gfn_ + i;
        try {
            if (hypervisor_.grant_table().try_end_access(refs_[i])) {
                hypervisor_.memory().free_page(gfn);
                continue;
            }
            // The grant table frees the page once the backend has unmapped it.
            if (!hypervisor_.grant_table().end_access(refs_[i], gfn)) {
                spdlog::warn(
                    "blkfront: ring page gfn {} (grant ref {}) is still mapped by the backend; "
                    "it stays allocated until the backend unmaps it",
                    gfn, refs_[i]);
            } else {
                hypervisor_.memory().free_page(gfn);
            }
        } catch (const std::exception& e) {
            spdlog::error("blkfront: releasing ring page gfn {}: {}", gfn, e.what());
        }
    }
}

}  // namespace pvsim::frontend::blkfront
