// What one ring's data plane has taken off the ring, kept where the next
// backend finds it, so that a backend that dies anywhere (SIGKILL) can be
// replaced as Linux's blkback is rebound (xen_blkif_map's BACK_RING_ATTACH
// at rsp_prod): the new one serves again every request between rsp_prod and
// req_prod.
//
// Why pvsim needs it and Linux does not: a response is written into the
// slot at rsp_prod_pvt, which may still hold a request taken but not yet
// answered, and is visible only once rsp_prod is pushed. Linux's blkback is
// only ever unbound cleanly (xen_blkif_disconnect waits for every request
// and pushes every response first; a dom0 that dies takes the host with
// it), so the slots in [rsp_prod, req_prod) always hold requests. pvsim's
// backend is a process that can be killed between writing a response and
// pushing it; the journal keeps the request copies (RING_COPY_REQUEST's,
// made anyway) in a shared-memory object of the run, one entry per slot,
// each tagged with its ring index. An entry is always the native request:
// on an x86_32-abi ring, the one translated from the copy
// (blkif_get_x86_32_req), so that replay needs no layout of its own and a
// replayed request is served exactly as it was the first time. The next backend of the same ring
// (same frontend, first ring-ref and event channel) replays from it the entries whose index it is
// about to take, and reads the ring for the rest.
//
// A clean stop removes the object (nothing is left unanswered then);
// `pvsim down` removes any a killed backend left. One ring thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/os/shared_memory.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::backend::blkback {

class RequestJournal {
  public:
    // The ring a journal belongs to.
    struct Ring {
        xen::DomId frontend = 0;
        xen::GrantRef ring_ref = 0;  // the first
        xen::EvtchnPort port = 0;    // the frontend's
        xen::RingIdx slots = 0;
    };

    // Opens the journal the last backend of `ring` left in the run tagged
    // `run_tag`, or creates an empty one; either way this one now owns it.
    // Throws std::system_error when shared memory cannot be had.
    RequestJournal(const std::string& run_tag, const Ring& ring);

    // The request the previous backend took at `index`, if it took it.
    std::optional<xen::BlkifRequest> replay(xen::RingIdx index) const noexcept;
    // The request taken at `index`: its copy first, then the index, so that
    // an entry is never seen half written.
    void record(xen::RingIdx index, const xen::BlkifRequest& copy) noexcept;

    // How many entries the journal held when it was opened (left by a
    // backend that died), for the log.
    std::size_t inherited() const noexcept { return inherited_; }
    const std::string& name() const noexcept { return memory_.name(); }

    struct Entry;

  private:
    static os::SharedMemory attach(const std::string& run_tag, const Ring& ring,
                                   std::size_t& inherited);
    Entry* entries() const noexcept;

    xen::RingIdx slots_;
    std::size_t inherited_ = 0;
    os::SharedMemory memory_;
};

}  // namespace pvsim::backend::blkback
