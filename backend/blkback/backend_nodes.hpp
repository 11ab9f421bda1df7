// Writing a few of a vbd's backend nodes at once, after the vbd is
// Connected: Linux blkback's xenbus_printf calls (xen_vbd_resize in a
// transaction, xen_blkbk_flush_diskcache and xen_blkbk_barrier with XBT_NIL
// from __end_block_io_op). pvsim writes them in one transaction and only
// while the device's `state` node exists, as every other write of a
// device's nodes (xenstore/client/xenbus_client.hpp), so that a write racing
// the toolstack's removal does not bring the directory back.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "xenstore/client/xenbus_client.hpp"

namespace pvsim::backend::blkback {

using BackendNode = std::pair<std::string_view, std::string>;

// False when the directory is gone (nothing written). Retried on EAGAIN;
// throws xenstore::client::Error otherwise.
bool write_backend_nodes(xenstore::client::XenbusDevice& device,
                         std::initializer_list<BackendNode> nodes);

}  // namespace pvsim::backend::blkback
