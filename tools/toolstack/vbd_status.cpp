#include "tools/toolstack/vbd_status.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_features.hpp"
#include "common/xen/node_values.hpp"
#include "common/xen/vbd_interface.hpp"
#include "tools/toolstack/virtio_disk.hpp"
#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::tools::toolstack {
namespace {

nlohmann::json state_json(std::optional<xen::XenbusState> state) {
    if (!state) {
        return nullptr;
    }
    return {{"state", static_cast<unsigned>(*state)}, {"name", std::string(xen::name(*state))}};
}

// An end's configuration as it reads it (its "pvsim-*" nodes over Linux's
// defaults); the defaults when a node is bad (that end reports the error).
xen::BlkifFeatureConfig end_config(xen::BlkifEnd end, const NodeReader& read) {
    try {
        return xen::read_blkif_feature_config(end, read);
    } catch (const xen::BlkifConfigError&) {
        return xen::BlkifFeatureConfig::defaults(end);
    }
}

}  // namespace

std::map<std::string, std::string> negotiated_features(const NodeReader& back,
                                                       const NodeReader& front) {
    const auto flag = [](const std::optional<std::string>& value) { return value == "1"; };
    // The frontend writes what it chose for persistent grants, the ring and
    // the queues (blkif.h); for the rest it uses an offer when its own
    // configuration allows (xen-blkfront's blkfront_gather_backend_features).
    const xen::BlkifFeatureConfig frontend = end_config(xen::BlkifEnd::frontend, front);
    const xen::BlkifFeatureConfig backend = end_config(xen::BlkifEnd::backend, back);
    std::map<std::string, std::string> features;
    const auto on_off = [](bool on) { return std::string(on ? "1" : "0"); };
    const bool persistent = flag(back("feature-persistent")) && flag(front("feature-persistent"));
    features["persistent"] = on_off(persistent);
    // xen-blkfront (5.19+): info->bounce = !trusted (the frontend's node,
    // xenbus_read_unsigned(..., "trusted", 1)), and persistent grants bounce.
    const bool trusted = xen::parse_node_u32(front("trusted")).value_or(1) != 0;
    features["bounce"] = on_off(!trusted || persistent);
    // xen-blkfront: indirect descriptors only when more than a plain
    // request's BLKIF_MAX_SEGMENTS_PER_REQUEST segments are offered.
    const unsigned offered = xen::parse_node_u32(back("feature-max-indirect-segments")).value_or(0);
    const unsigned segments = std::min(offered, frontend.max_indirect_segments);
    features["indirect-segments"] =
        std::to_string(segments > xen::kBlkifMaxSegmentsPerRequest ? segments : 0);
    features["ring-page-order"] =
        std::to_string(xen::parse_node_u32(front("ring-page-order")).value_or(0));
    features["queues"] =
        std::to_string(xen::parse_node_u32(front("multi-queue-num-queues")).value_or(1));
    features["discard"] = on_off(flag(back("feature-discard")) && frontend.discard);
    features["flush-cache"] = on_off(flag(back("feature-flush-cache")) && frontend.flush_cache);
    features["barrier"] = on_off(flag(back("feature-barrier")) && frontend.barrier);
    features["grant-mode"] = std::string(xen::to_string(backend.grant_mode));
    return features;
}

std::vector<VbdPaths> list_vbds(xenstore::client::Client& xenstore, xen::DomId domid) {
    const std::string dir = xenstore::client::frontend_directory(domid, "vbd");
    std::vector<VbdPaths> vbds;
    for (const std::uint32_t devid : xenstore::client::xenbus_devids(xenstore, dir)) {
        const auto backend_id = xen::parse_node_u32(
            xenstore.try_read(dir + "/" + std::to_string(devid) + "/backend-id"));
        const auto backend_domid = static_cast<xen::DomId>(backend_id.value_or(0));
        // Where the backend is, as libxl__device_disk_from_xenstore reads it
        // from its own record (backend/vbd or backend/qdisk); the phy
        // backend's place when there is no record.
        const VbdPaths record = VbdPaths::of(backend_domid, domid, devid);
        const std::optional<std::string> backend = xenstore.try_read(record.libxl + "/backend");
        const VbdPaths qdisk = VbdPaths::of(backend_domid, domid, devid, DiskBackend::qdisk);
        vbds.push_back(backend == qdisk.backend ? qdisk : record);
    }
    return vbds;
}

std::optional<VbdPaths> find_vbd(xenstore::client::Client& xenstore, xen::DomId domid,
                                 std::string_view vdev) {
    if (is_virtio_vdev(vdev)) {
        return std::nullopt;  // a virtio disk's name (virtio_disk.hpp)
    }
    const std::uint32_t devid = xen::vdev_number(vdev);
    for (const VbdPaths& paths : list_vbds(xenstore, domid)) {
        if (paths.devid == devid) {
            return paths;
        }
    }
    return std::nullopt;
}

VbdPaths require_vbd(xenstore::client::Client& xenstore, const DomainRecord& domain,
                     std::string_view vdev) {
    if (auto paths = find_vbd(xenstore, domain.domid, vdev)) {
        return *paths;
    }
    throw std::runtime_error(domain.name + " has no vdev " + std::string(vdev) +
                             " (see `pvsim block-list " + domain.name + "`)");
}

VbdStatus read_vbd_status(xenstore::client::Client& xenstore, const VbdPaths& paths) {
    VbdStatus status;
    status.paths = paths;
    status.vdev = xenstore.try_read(paths.backend + "/dev").value_or(std::to_string(paths.devid));
    status.type = std::string(to_string(paths.type));
    // libxl__device_disk_from_xenstore: a qdisk's params is format:path.
    status.target = xenstore.try_read(paths.backend + "/params").value_or("");
    if (paths.type == DiskBackend::qdisk && status.target.find(':') != std::string::npos) {
        status.target = status.target.substr(status.target.find(':') + 1);
    }
    status.access = xenstore.try_read(paths.backend + "/mode").value_or("w") == "r" ? "ro" : "rw";
    status.frontend_state = xenstore::client::xenbus_read_driver_state(xenstore, paths.frontend);
    status.backend_state = xenstore::client::xenbus_read_driver_state(xenstore, paths.backend);

    auto back = [&](std::string_view key) {
        return xenstore.try_read(paths.backend + "/" + std::string(key));
    };
    auto front = [&](std::string_view key) {
        return xenstore.try_read(paths.frontend + "/" + std::string(key));
    };
    status.features = negotiated_features(back, front);
    if (auto poll = back("poll-us")) {
        status.features["poll-us"] = *poll;
    }
    if (auto direct = back("direct"); direct && *direct == "1") {
        status.features["direct"] = "1";
    }
    status.error = read_backend_error(xenstore, paths);
    if (!status.error) {
        status.error = xenstore.try_read(paths.frontend_error_node());
    }
    return status;
}

nlohmann::json features_json(const std::map<std::string, std::string>& features) {
    static const std::set<std::string, std::less<>> kOnOff = {"persistent",  "bounce",  "discard",
                                                              "flush-cache", "barrier", "direct"};
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : features) {
        const bool digits =
            !value.empty() && value.size() <= 19 &&
            std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (kOnOff.contains(name)) {
            out[name] = value != "0";
        } else if (digits) {
            out[name] = std::stoull(value);
        } else {
            out[name] = value;
        }
    }
    return out;
}

nlohmann::json VbdStatus::to_json() const {
    nlohmann::json out = {{"vdev", vdev},
                          {"devid", paths.devid},
                          {"backend_domid", paths.backend_domid},
                          {"target", target},
                          {"backendtype", type},
                          {"access", access},
                          {"specification", "xen"},
                          {"frontend", state_json(frontend_state)},
                          {"backend", state_json(backend_state)},
                          {"features", features_json(features)},
                          {"frontend_path", paths.frontend},
                          {"backend_path", paths.backend}};
    if (error) {
        out["error"] = *error;
    }
    return out;
}

}  // namespace pvsim::tools::toolstack
