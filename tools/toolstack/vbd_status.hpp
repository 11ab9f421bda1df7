// What the toolstack can say about a guest's vbds from xenstore alone, as
// `xl block-list` does: the devices under the guest's device/vbd, each
// end's state, and the features each end advertised (blkif.h's keys,
// DESIGN.md §5): the ones "in use" are those both ends agree on.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/xen/xenbus.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/vbd.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

struct VbdStatus {
    VbdPaths paths;
    std::string vdev;    // backend's "dev" (the name given at attach)
    std::string type;    // "phy" | "qdisk": where the backend directory is
    std::string target;  // backend's "params" (a qdisk's without its format)
    std::string access;  // "rw" | "ro"
    std::optional<xen::XenbusState> frontend_state;
    std::optional<xen::XenbusState> backend_state;
    // The features in use, as negotiated_features gives them, and the
    // backend's `poll-us` and `direct` (when 1).
    std::map<std::string, std::string> features;
    std::optional<std::string> error;  // either end's error node

    nlohmann::json to_json() const;
};

// A device directory's node (relative name) -> its value, nullopt if absent.
using NodeReader = std::function<std::optional<std::string>(std::string_view node)>;

// The blkif features in use from what both ends wrote, as blkfront decides
// (xen-blkfront.c): "persistent" 0|1 (both ends wrote feature-persistent=1),
// "bounce" 0|1 (data through blkfront's own pages: the frontend's trusted
// node is 0, or persistent grants are in use),
// "indirect-segments" N (the backend's offer capped by the frontend's
// configuration; 0 when that is not above BLKIF_MAX_SEGMENTS_PER_REQUEST),
// "ring-page-order" N and "queues" N (what the frontend wrote; 0 and 1
// without), "discard", "flush-cache", "barrier" 0|1 (offered and allowed by
// the frontend's configuration), "grant-mode" map|copy (the backend's).
std::map<std::string, std::string> negotiated_features(const NodeReader& backend,
                                                       const NodeReader& frontend);

// The features as JSON values of their kind: an on/off feature (persistent,
// bounce, discard, flush-cache, barrier, direct) a boolean, a count
// (indirect-segments, ring-page-order, queues, poll-us) a number, a mode
// (grant-mode) a string.
nlohmann::json features_json(const std::map<std::string, std::string>& features);

// The guest's vbds in devid order (from its device/vbd directory; the
// backend domain from each one's backend-id, the backend's directory,
// backend/vbd or backend/qdisk, from the toolstack's record).
std::vector<VbdPaths> list_vbds(xenstore::client::Client& xenstore, xen::DomId domid);

VbdStatus read_vbd_status(xenstore::client::Client& xenstore, const VbdPaths& paths);

// The vbd of `domid` named `vdev` (a name or number vdev_number accepts),
// nullopt when the guest has none by that number.
std::optional<VbdPaths> find_vbd(xenstore::client::Client& xenstore, xen::DomId domid,
                                 std::string_view vdev);

// find_vbd, or std::runtime_error "<name> has no vdev <vdev> (see `pvsim
// block-list <name>`)".
VbdPaths require_vbd(xenstore::client::Client& xenstore, const DomainRecord& domain,
                     std::string_view vdev);

}  // namespace pvsim::tools::toolstack
