// The shared ring of one vbd as the backend holds it while connected
// (xen-blkback/xenbus.c: xen_blkif_map, and the unmap/unbind half of
// xen_blkif_disconnect): the frontend's ring page mapped through its grant,
// attached at the live response index (BACK_RING_ATTACH, so a ring the
// frontend already used is picked up where it stands), and the event
// channel bound to the frontend's unbound port. Destroying it unbinds and
// unmaps, in that order, as Linux does.
//
// Owned by the control plane until it hands it to the data plane, which is
// the only one to touch the ring and the port from then on.
#pragma once

#include <stdexcept>
#include <string>

#include "common/xen/blkif.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/client/event_channel.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::backend::blkback {

// Why a ring could not be connected, with the errno Linux would pass to
// xenbus_dev_fatal.
class RingConnectError : public std::runtime_error {
  public:
    RingConnectError(int errnum, const std::string& what)
        : std::runtime_error(what), errnum_(errnum) {}
    int errnum() const noexcept { return errnum_; }

  private:
    int errnum_;
};

class RingConnection {
  public:
    // Maps `ring_ref` of `frontend` (read/write: the backend writes the
    // responses), attaches the back ring, and binds `port`. Throws
    // RingConnectError naming the ref or port when the grant does not map
    // (with its GNTST_ status), the frontend claims more requests than the
    // ring holds, or the port cannot be bound; nothing is left mapped or
    // bound then. `hypervisor` must outlive the connection.
    static RingConnection connect(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                                  xen::GrantRef ring_ref, xen::EvtchnPort port);

    RingConnection(RingConnection&& other) noexcept;
    RingConnection& operator=(RingConnection&& other) noexcept;
    RingConnection(const RingConnection&) = delete;
    RingConnection& operator=(const RingConnection&) = delete;
    ~RingConnection();

    xen::DomId frontend() const noexcept { return frontend_; }
    xen::GrantRef ring_ref() const noexcept { return ring_ref_; }
    xen::EvtchnPort remote_port() const noexcept { return remote_port_; }
    hypervisor::Hypervisor& hypervisor() const noexcept { return *hypervisor_; }
    xen::BlkifBackRing& ring() noexcept { return ring_; }
    hypervisor::EventChannel& event_channel() noexcept { return channel_; }

  private:
    RingConnection(hypervisor::Hypervisor& hypervisor, xen::DomId frontend, xen::GrantRef ring_ref,
                   xen::EvtchnPort remote_port, xen::GrantHandle handle, xen::BlkifBackRing ring,
                   hypervisor::EventChannel channel);
    // Unbinds, then unmaps. Idempotent; never throws.
    void release() noexcept;

    hypervisor::Hypervisor* hypervisor_ = nullptr;
    xen::DomId frontend_ = 0;
    xen::GrantRef ring_ref_ = 0;
    xen::EvtchnPort remote_port_ = 0;
    bool mapped_ = false;
    xen::GrantHandle handle_ = 0;
    xen::BlkifBackRing ring_;
    hypervisor::EventChannel channel_;
};

}  // namespace pvsim::backend::blkback
