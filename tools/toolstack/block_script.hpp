// The toolstack's block hotplug step: what Xen's block script does for a
// vbd of the phy backend (tools/hotplug/Linux/block with
// xen-hotplug-common.sh, Xen 4.17), run by the toolstack itself where libxl
// forks the script (libxl_device.c device_hotplug, with the script and its
// arguments from libxl_linux.c libxl__get_hotplug_script_info).
//
// The backend directory's `script` node names it: kBlockScript, "block".
// libxl writes its script's absolute path (libxl__abs_path of disk->script
// ?: "block" in the scripts directory, /etc/xen/scripts/block); pvsim's
// step is built in, so the node holds the name alone, and no other script
// is run.
//
// add (libxl: once the backend is InitWait)
//   physical-device already there  nothing ("it is possible for this script
//                                  to be called twice, so just bail")
//   params a block device          physical-device = major:minor in hex
//                                  (write_dev: stat -L -c %t:%T) and
//                                  physical-device-path = the device, links
//                                  resolved (a name without a / is under
//                                  /dev, expand_dev)
//   params a regular file          only while the backend is InitWait; mode
//                                  w needs a write bit on the file; a loop
//                                  device is bound to it (loop_device.hpp),
//                                  `node` = /dev/loopN, and physical-device,
//                                  physical-device-path are the loop's
//   otherwise                      an error: "<params> does not exist."
//   then hotplug-status = connected (xen-hotplug-common.sh's success), or
//   on any failure hotplug-error = the message and hotplug-status = error
//   (fatal), which libxl reports as the attach's error
// remove (libxl__device_hotplug on removal, after the backend's Closed)
//   `node` names a loop device the add made: it is removed.
// Nothing is written into a directory that is gone meanwhile.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

inline constexpr std::string_view kBlockScript = "block";

// hotplug-status's values.
inline constexpr std::string_view kHotplugConnected = "connected";
inline constexpr std::string_view kHotplugError = "error";

// The add step for the backend directory `backend`. Returns the error it
// wrote as hotplug-error, nullopt when it succeeded. Throws only for
// xenstore failures.
std::optional<std::string> block_hotplug_add(xenstore::client::Client& client,
                                             const std::string& backend);

// The remove step. Throws std::system_error when a loop device cannot be
// removed.
void block_hotplug_remove(xenstore::client::Client& client, const std::string& backend);

}  // namespace pvsim::tools::toolstack
