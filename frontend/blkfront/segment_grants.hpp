// How a blkif request's pages reach the backend (Linux xen-blkfront.c:
// get_grant, blkif_setup_rw_req_grant, and the bounce part of
// blkif_completion). Kept apart from the ring so that the grant policy can be
// read and changed without the submission and completion paths.
//
// Without bounce (a trusted backend, no persistent grants) every segment's
// own page is granted for the request, read/write whatever the direction (as
// Linux grants them: the backend may map a write's pages read-only), and so
// is each indirect frame, a page of our own. With bounce (info->bounce:
// persistent grants, or trusted=0) the pages come from the ring's GrantPool
// (grant_pool.hpp), Linux's rinfo->grants list: a write's data is copied in
// before it is issued (setup->need_copy), a read's copied out when answered
// (blkif_completion), and indirect frames are pool pages too
// (get_indirect_grant), so the backend is granted no page of the caller's.
//
// Nothing here locks: the data plane (blkfront_queue.hpp) calls it under
// its ring lock.
#pragma once

#include <cstdint>
#include <optional>

#include "common/xen/blkif.hpp"
#include "frontend/blkfront/grant_pool.hpp"
#include "frontend/blkfront/request_builder.hpp"
#include "frontend/blkfront/shadow.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::blkfront {

// blkif_queue_rw_req's granting (blkif_setup_rw_req_grant for each segment,
// then the indirect frames): grants what `plan` needs to `backend_id` - from
// `pool` when bouncing (non-null), else one grant per page - and fills
// `entry` with the grants to end or give back and the ring request (id 0)
// for `handle`. Returns the segments copied into pool pages. Throws
// std::bad_alloc when the grant table or memory is full; `entry` then holds
// what was granted so far, none of it seen by the backend.
std::uint64_t grant_request(hypervisor::Hypervisor& hypervisor, xen::DomId backend_id,
                            xen::BlkifVdev handle, const BlkifRequestPlan& plan, GrantPool* pool,
                            ShadowEntry& entry);

// blkif_completion for a read through the pool: its data is copied out of
// the pool pages into the caller's. Returns the segments copied.
std::uint64_t copy_read_out(hypervisor::DomainMemory& memory, const ShadowEntry& entry);

// gnttab_end_foreign_access: ends a grant the backend may still map; one
// still pinned is parked in the grant table, never reused while pinned, and
// `page` (ours, freed once it ends) stays allocated for the same reason.
void end_or_park_grant(hypervisor::Hypervisor& hypervisor, xen::GrantRef ref,
                       std::optional<hypervisor::Gfn> page);

}  // namespace pvsim::frontend::blkfront
