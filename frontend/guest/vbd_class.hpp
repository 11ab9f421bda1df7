// The vbd device class (device_class.hpp): Xen PV disks under device/vbd,
// each a blkfront (frontend/blkfront/blkfront.hpp), as xen-blkfront.c's
// xenbus_driver is to Linux's xenbus_probe_frontend. A directory is probed
// at Initialising only (xenbus_probe_node); its open is open_blkfront,
// which blocks until Connected; a frontend that reaches Closed is dropped;
// resume is blkfront's reconnect.
#pragma once

#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "frontend/blkfront/blkfront.hpp"
#include "frontend/guest/device_class.hpp"
#include "hypervisor/client/hypervisor.hpp"

namespace pvsim::frontend::guest {

// Each blkfront's control plane runs on a strand of `control` (the
// guest's control-plane executor); `options` are every blkfront's (its
// on_state is chained after the probe's own). `hypervisor` and `control`
// must outlive the class and its devices.
std::unique_ptr<DeviceClass> make_vbd_class(hypervisor::Hypervisor& hypervisor,
                                            boost::asio::any_io_executor control,
                                            blkfront::BlkfrontOptions options = {});

}  // namespace pvsim::frontend::guest
