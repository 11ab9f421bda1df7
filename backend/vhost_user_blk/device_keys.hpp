// The keys of a vhost-user-blk backend directory
// (/local/domain/<backend>/backend/vhost-user-blk/<frontend-domid>/<devid>/,
// the virtio contract), read into a server's options. pvsim's toolstack
// writes all but queue-size (tools/toolstack/virtio_disk.hpp):
//   params      the image path                          (required)
//   socket      the unix socket to listen on, absolute  (required)
//   mode        r | w | w!                               (default w)
//   num-queues  1..16                                    (default 1)
//   queue-size  a power of two, 4..32768                 (default 256)
//   poll-us     the polling window, 0 off                (default 50)
//   direct      0 | 1: O_DIRECT                          (default 0)
// and the keys the device writes back: hotplug-status ("connected", or
// "error" with `error` holding the reason), sectors and sector-size.
#pragma once

#include <string>

#include "backend/storage/make_engine.hpp"
#include "backend/vhost_user_blk/vhost_user_server.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::vhost_user_blk {

inline constexpr const char* kBackendType = "vhost-user-blk";

// Whether the directory has what a device needs before it can be read
// (params and socket): pvsim's toolstack writes every key in one
// transaction, but another writer (xenstore-write) may write them one at a
// time, and the watch fires for each.
bool device_keys_present(xenstore::client::Client& client, const std::string& nodename);

// The server options of the device at `nodename`. Throws xen::NodeError
// (common/xen/node_values.hpp) naming the key and the value that is wrong.
ServerOptions read_device_keys(xenstore::client::Client& client, const std::string& nodename,
                               storage::EngineKind engine);

// hotplug-status "connected", sectors, sector-size, in one transaction.
void write_connected(xenstore::client::Client& client, const std::string& nodename,
                     const VhostUserBlkServer& server);
// hotplug-status "error" and error = `reason`.
void write_error(xenstore::client::Client& client, const std::string& nodename,
                 const std::string& reason);

}  // namespace pvsim::backend::vhost_user_blk
