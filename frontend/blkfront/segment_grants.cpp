#include "frontend/blkfront/segment_grants.hpp"

#include <cstring>

namespace pvsim::frontend::blkfront {
namespace {

// The sectors `segment` uses, copied between two pages at the same offset.
void copy_segment(hypervisor::DomainMemory& memory, const SegmentPlan& segment,
                  hypervisor::Gfn from, hypervisor::Gfn to) {
    const std::size_t offset = std::size_t{segment.first_sect} * xen::kBlkifSectorSize;
    const std::size_t length = segment.sectors() * xen::kBlkifSectorSize;
    std::memcpy(memory.page(to).data() + offset, memory.page(from).data() + offset, length);
}

}  // namespace

std::uint64_t grant_request(hypervisor::Hypervisor& hypervisor, xen::DomId backend_id,
                            xen::BlkifVdev handle, const BlkifRequestPlan& plan, GrantPool* pool,
                            ShadowEntry& entry) {
    hypervisor::GrantTable& grants = hypervisor.grant_table();
    hypervisor::DomainMemory& memory = hypervisor.memory();
    std::uint64_t copies = 0;
    GrantRefs segment_refs;
    segment_refs.reserve(plan.segments.size());
    for (const SegmentPlan& segment : plan.segments) {
        if (pool != nullptr) {
            // blkif_setup_rw_req_grant: a write's data goes into the
            // pool page (need_copy); a read's comes out of it when answered.
            const PoolGrant grant = pool->take();
            entry.pooled.push_back(grant);
            if (plan.operation == xen::BlkifOp::write ||
                plan.operation == xen::BlkifOp::write_barrier) {
                copy_segment(memory, segment, segment.gfn, grant.gfn);
                ++copies;
            }
            segment_refs.push_back(grant.ref);
        } else {
            // Read/write grants whatever the direction, as Linux's
            // blkfront grants them: the backend may map a write's pages
            // read-only.
            entry.grants.push_back(grants.grant_access(backend_id, segment.gfn, false));
            segment_refs.push_back(entry.grants.back());
        }
    }
    if (plan.indirect()) {
        GrantRefs frame_refs;
        std::vector<std::byte*> frames;
        for (unsigned i = 0; i < plan.indirect_frames(); ++i) {
            if (pool != nullptr) {
                // get_indirect_grant: with bounce, a pool page.
                const PoolGrant grant = pool->take();
                entry.pooled.push_back(grant);
                frame_refs.push_back(grant.ref);
                frames.push_back(memory.page(grant.gfn).data());
                continue;
            }
            IndirectFrame frame{memory.allocate_page(), 0};
            try {
                frame.ref = grants.grant_access(backend_id, frame.gfn, false);
            } catch (...) {
                memory.free_page(frame.gfn);
                throw;
            }
            entry.indirect_frames.push_back(frame);
            frame_refs.push_back(frame.ref);
            frames.push_back(memory.page(frame.gfn).data());
        }
        write_indirect_segments(plan, segment_refs, frames);
        entry.request = make_indirect_request(plan, 0, handle, frame_refs);
    } else {
        entry.request = make_blkif_request(plan, 0, handle, segment_refs);
    }
    if (pool != nullptr && plan.operation == xen::BlkifOp::read) {
        entry.segments = plan.segments;
    }
    return copies;
}

std::uint64_t copy_read_out(hypervisor::DomainMemory& memory, const ShadowEntry& entry) {
    for (std::size_t i = 0; i < entry.segments.size(); ++i) {
        copy_segment(memory, entry.segments[i], entry.pooled[i].gfn, entry.segments[i].gfn);
    }
    return entry.segments.size();
}

void end_or_park_grant(hypervisor::Hypervisor& hypervisor, xen::GrantRef ref,
                       std::optional<hypervisor::Gfn> page) {
    hypervisor::GrantTable& grants = hypervisor.grant_table();
    if (grants.try_end_access(ref)) {
        if (page) {
            hypervisor.memory().free_page(*page);
        }
        return;
    }
    // The backend may still map it: parked in the grant table, never reused
    // while pinned, with our page, which the grant table frees once the
    // backend has let go (Linux gnttab_end_foreign_access with a page).
    if (grants.end_access(ref, page) && page) {
        hypervisor.memory().free_page(*page);  // it ended in between
    }
}

}  // namespace pvsim::frontend::blkfront
