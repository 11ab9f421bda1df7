#include "frontend/blkfront/grant_pool.hpp"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

#include "frontend/blkfront/segment_grants.hpp"

namespace pvsim::frontend::blkfront {

PoolGrant GrantPool::take() {
    hypervisor::DomainMemory& memory = hypervisor_.memory();
    PoolGrant grant;
    if (!free_.empty()) {
        grant = free_.back();
        free_.pop_back();
    } else {
        // fill_grant_buffer: with bounce, each entry has a page of its own.
        grant = PoolGrant{memory.allocate_page(), xen::kInvalidGrantRef};
        ++pages_;
    }
    if (grant.ref == xen::kInvalidGrantRef) {
        // get_grant: an entry without a grant is granted again
        // (grant_foreign_access of its own page).
        try {
            grant.ref = hypervisor_.grant_table().grant_access(backend_id_, grant.gfn, false);
        } catch (...) {
            free_.push_back(grant);
            publish_gauges();
            throw;
        }
        ++granted_;
    }
    publish_gauges();
    return grant;
}

bool GrantPool::try_end(PoolGrant& grant) {
    if (grant.ref == xen::kInvalidGrantRef) {
        return true;
    }
    if (!hypervisor_.grant_table().try_end_access(grant.ref)) {
        return false;
    }
    grant.ref = xen::kInvalidGrantRef;
    --granted_;
    return true;
}

std::optional<xen::GrantRef> GrantPool::give_back(std::vector<PoolGrant>& grants) {
    std::optional<xen::GrantRef> still_mapped;
    for (PoolGrant& grant : grants) {
        if (!persistent_) {
            // blkif_completion: ended unless the backend still maps it.
            const xen::GrantRef ref = grant.ref;
            if (!try_end(grant) && !still_mapped) {
                still_mapped = ref;
            }
        }
        free_.push_back(grant);
    }
    grants.clear();
    publish_gauges();
    return still_mapped;
}

std::size_t GrantPool::purge() {
    std::size_t ended = 0;
    for (PoolGrant& grant : free_) {
        if (grant.ref != xen::kInvalidGrantRef && try_end(grant)) {
            ++ended;
        }
    }
    publish_gauges();
    return ended;
}

void GrantPool::free_all() {
    for (const PoolGrant& grant : free_) {
        try {
            if (grant.ref == xen::kInvalidGrantRef) {
                hypervisor_.memory().free_page(grant.gfn);
            } else {
                end_or_park_grant(hypervisor_, grant.ref, grant.gfn);
                --granted_;
            }
        } catch (const std::exception& e) {
            spdlog::warn("blkfront {}: ending pool grant {}: {}", name_, grant.ref, e.what());
        }
    }
    pages_ -= std::min(pages_, free_.size());
    free_.clear();
    publish_gauges();
}

void GrantPool::publish_gauges() noexcept {
    pages_gauge_.store(pages_, std::memory_order_relaxed);
    granted_gauge_.store(granted_, std::memory_order_relaxed);
}

}  // namespace pvsim::frontend::blkfront
