#include "backend/blkback/vbd_config.hpp"

#include <cerrno>
#include <limits>

#include "common/xen/node_values.hpp"

namespace pvsim::backend::blkback {

using xen::in_quotes;
using xen::NodeError;
using xen::parse_node_unsigned;
std::string_view to_string(DeviceKind kind) noexcept {
    return kind == DeviceKind::qdisk ? "qdisk" : "vbd";
}

std::string qdisk_image_path(const std::string& params) {
    // xen_block_device_create: g_strsplit(params, ":", 2); one part is the
    // file name alone.
    const std::size_t colon = params.find(':');
    const std::string format = colon == std::string::npos ? "raw" : params.substr(0, colon);
    const std::string path = colon == std::string::npos ? params : params.substr(colon + 1);
    if (format != "raw" && format != "aio") {
        throw NodeError(ENOSYS, "params " + in_quotes(params) + ": format " + in_quotes(format) +
                                    " (pvsim serves raw images only)");
    }
    if (path.empty()) {
        throw NodeError(EINVAL, "params " + in_quotes(params) + " names no image");
    }
    return path;
}

std::optional<OtherEnd> read_frontend(xenstore::client::Client& client,
                                      const std::string& nodename) {
    const std::optional<std::string> path = client.try_read(nodename + "/frontend");
    const std::optional<std::string> id = client.try_read(nodename + "/frontend-id");
    if (!path || !id) {
        return std::nullopt;
    }
    const auto domid = parse_node_unsigned(*id, xen::kDomidFirstReserved - 1);
    if (!domid) {
        throw NodeError(EINVAL, "frontend-id " + in_quotes(*id) + " is not a domain id");
    }
    if (path->empty() || path->front() != '/') {
        throw NodeError(EINVAL, "frontend " + in_quotes(*path) + " is not an absolute path");
    }
    return OtherEnd{*path, static_cast<xen::DomId>(*domid)};
}

VbdConfig read_vbd_config(xenstore::client::Client& client, const std::string& nodename,
                          const std::string& frontend, DeviceKind kind) {
    VbdConfig config;
    config.kind = kind;
    const auto params = client.try_read(nodename + "/params");
    if (kind == DeviceKind::qdisk) {
        if (!params || params->empty()) {
            throw NodeError(ENOENT, "reading params: no image or device named");
        }
        config.params = qdisk_image_path(*params);
    } else {
        config.params = params.value_or("");
    }
    const auto mode = client.try_read(nodename + "/mode");
    if (!mode) {
        throw NodeError(ENOENT, "reading mode");
    }
    config.mode = *mode;
    // backend_changed: xen_vbd_create(..., !strchr(be->mode, 'w'), ...).
    config.read_only = mode->find('w') == std::string::npos;

    if (const auto direct = client.try_read(nodename + "/direct")) {
        if (*direct != "0" && *direct != "1") {
            throw NodeError(EINVAL, "direct " + in_quotes(*direct) + " is neither 0 nor 1");
        }
        config.direct = *direct == "1";
    }
    // Linux's blkback never reads direct-io-safe; QEMU's xen-block opens
    // with cache.direct when it is 1 (xen_block_drive_create:
    // qemu_strtoul(direct_io_safe, NULL, 2, ...), any non-zero value).
    if (const auto safe = client.try_read(nodename + "/direct-io-safe");
        safe && kind == DeviceKind::qdisk) {
        const auto value = parse_node_unsigned(*safe, std::numeric_limits<std::uint32_t>::max());
        if (!value) {
            throw NodeError(EINVAL, "direct-io-safe " + in_quotes(*safe) + " is not a number");
        }
        config.direct = config.direct || *value != 0;
    }
    // xen_blkbk_discard: xenbus_read_unsigned(dev->nodename,
    // "discard-enable", 1); libxl writes 0 for read-only disks and
    // no-discard.
    if (const auto enable = client.try_read(nodename + "/discard-enable")) {
        const auto value = parse_node_unsigned(*enable, std::numeric_limits<std::uint32_t>::max());
        if (!value) {
            throw NodeError(EINVAL, "discard-enable " + in_quotes(*enable) + " is not a number");
        }
        config.discard_enable = *value != 0;
    }
    if (const auto poll = client.try_read(nodename + "/poll-us")) {
        const auto value = parse_node_unsigned(*poll, kMaxPollUs);
        if (!value) {
            throw NodeError(EINVAL, "poll-us " + in_quotes(*poll) +
                                        " is not a number of microseconds from 0 to " +
                                        std::to_string(kMaxPollUs));
        }
        config.poll_us = std::chrono::microseconds(*value);
    }
    config.cdrom = client.try_read(frontend + "/device-type").value_or("") == "cdrom";
    try {
        config.features =
            xen::read_blkif_feature_config(xen::BlkifEnd::backend, [&](std::string_view node) {
                return client.try_read(nodename + "/" + std::string(node));
            });
    } catch (const xen::BlkifConfigError& e) {
        throw NodeError(EINVAL, e.what());
    }
    return config;
}

}  // namespace pvsim::backend::blkback
