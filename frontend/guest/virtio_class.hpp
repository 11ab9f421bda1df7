// The virtio-blk device class (device_class.hpp, DESIGN.md §6): disks
// under device/vhost-user-blk, each a virtio-blk driver over vhost-user
// (frontend/virtio_blk/virtio_blk.hpp). The toolstack writes a directory
// in one transaction: vhost-user = the device's socket, virtual-device =
// its name (e.g. vda), num-queues wanted, poll-us, reconnect (seconds
// between attempts to connect again to a device that hung up, QEMU's
// chardev reconnect=; absent or 0: the hangup fails the disk); one without
// its socket is not one of its disks. The open (open_virtio_blk over the guest's
// memory) blocks through the vhost-user handshake. A disk whose directory
// goes away is closed (VirtioBlk::close: GET_VRING_BASE per queue) and
// stays listed, Closing, until it is, so that the toolstack can remove the
// device's back end only after the guest let go of it.
//
// There is no xenbus state on this path; a DEVICE's "state" uses
// XenbusState's numbers for what the driver is doing (Initialising while it
// opens, Connected once open, Closing while it closes, Closed once the
// guest closed it), so that the agent's answers keep one shape for both
// transports.
#pragma once

#include <memory>

#include "frontend/guest/device_class.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::frontend::guest {

// `memory` (the guest's own: queues and I/O buffers live in it) must
// outlive the class and its devices.
std::unique_ptr<DeviceClass> make_virtio_class(hypervisor::DomainMemory& memory);

}  // namespace pvsim::frontend::guest
