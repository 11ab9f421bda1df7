// One shared ring of a vbd as the backend holds it while connected
// (xen-blkback/xenbus.c: xen_blkif_map, and the unmap/unbind half of
// xen_blkif_disconnect): the frontend's ring page(s) mapped through their
// grants, one after the other in one area when the ring has several
// (ring-page-order > 0, ring-ref0..N-1; xenbus_map_ring_valloc), attached
// at the live response index (BACK_RING_ATTACH, so a ring the frontend
// already used is picked up where it stands), and the event channel bound
// to the frontend's unbound port. Destroying it unbinds and unmaps, in that
// order, as Linux does.
//
// Owned by the control plane until it hands it to the data plane, which is
// the only one to touch the ring and the port from then on.
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/errno_error.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/blkif_rings.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::backend::blkback {

// Why a ring could not be connected, with the errno Linux would pass to
// xenbus_dev_fatal.
class RingConnectError : public ErrnoError {
  public:
    RingConnectError(int errnum, const std::string& what) : ErrnoError(errnum, what) {}
};

class RingConnection {
  public:
    // Maps `ring_refs` of `frontend` (1, 2, 4, 8 or 16 of them; read/write:
    // the backend writes the responses) in one batch, into one contiguous
    // area, attaches the back ring of blkif_ring_size(order) slots in the
    // layout of `protocol` (xen_blkif_map: BACK_RING_ATTACH on
    // blk_rings->native or ->x86_32 as blkif->blk_protocol says), and binds
    // `port`. Throws RingConnectError naming the ref or port when a grant
    // does not map (with its GNTST_ status), the frontend claims more
    // requests than the ring holds, or the port cannot be bound; nothing is
    // left mapped or bound then. `hypervisor` must outlive the connection.
    static RingConnection connect(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                                  std::span<const xen::GrantRef> ring_refs, xen::EvtchnPort port,
                                  xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64);
    static RingConnection connect(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                                  xen::GrantRef ring_ref, xen::EvtchnPort port,
                                  xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64) {
        return connect(hypervisor, frontend, std::span<const xen::GrantRef>(&ring_ref, 1), port,
                       protocol);
    }

    RingConnection(RingConnection&& other) noexcept;
    RingConnection& operator=(RingConnection&& other) noexcept;
    RingConnection(const RingConnection&) = delete;
    RingConnection& operator=(const RingConnection&) = delete;
    ~RingConnection();

    xen::DomId frontend() const noexcept { return frontend_; }
    // The first ring ref (the only one of a one-page ring).
    xen::GrantRef ring_ref() const noexcept { return ring_refs_.empty() ? 0 : ring_refs_[0]; }
    const std::vector<xen::GrantRef>& ring_refs() const noexcept { return ring_refs_; }
    xen::EvtchnPort remote_port() const noexcept { return remote_port_; }
    hypervisor::Hypervisor& hypervisor() const noexcept { return *hypervisor_; }
    xen::BlkifBackRings& ring() noexcept { return ring_; }
    hypervisor::EventChannel& event_channel() noexcept { return channel_; }

  private:
    RingConnection(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                   std::vector<xen::GrantRef> ring_refs, xen::EvtchnPort remote_port,
                   std::vector<xen::GrantHandle> handles, hypervisor::GrantArea area,
                   xen::BlkifBackRings ring, hypervisor::EventChannel channel);
    // Unbinds, then unmaps. Idempotent; never throws.
    void release() noexcept;

    hypervisor::Hypervisor* hypervisor_ = nullptr;
    xen::DomId frontend_ = 0;
    std::vector<xen::GrantRef> ring_refs_;
    xen::EvtchnPort remote_port_ = 0;
    std::vector<xen::GrantHandle> handles_;
    hypervisor::GrantArea area_;
    xen::BlkifBackRings ring_;
    hypervisor::EventChannel channel_;
};

}  // namespace pvsim::backend::blkback
