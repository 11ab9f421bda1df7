#include "xenstore/client/xenbus_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/xen/node_values.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::xenstore::client {
namespace {

// Writes <nodename>/<key> = `value` in one transaction, if <nodename>/state
// still exists.
bool write_if_present(Client& client, std::string_view nodename, std::string_view key,
                      const std::string& value) {
    const std::string state_path = std::string(nodename) + "/state";
    const std::string path = std::string(nodename) + "/" + std::string(key);
    return client.transact([&](Transaction& t) {
        // __xenbus_switch_state: "We check whether the state is currently
        // set to the given value, and if not, then the state is set. ...
        // the device is being removed" when the node is gone.
        if (!t.try_read(state_path)) {
            return false;
        }
        t.write(path, value);
        return true;
    });
}

}  // namespace

bool xenbus_switch_state(Client& client, std::string_view nodename, xen::XenbusState state) {
    return write_if_present(client, nodename, "state",
                            std::to_string(static_cast<std::uint32_t>(state)));
}

void xenbus_dev_error(Client& client, std::string_view nodename, int errnum,
                      std::string_view message) noexcept {
    const std::string text = std::to_string(errnum) + " " + std::string(message);
    spdlog::error("{}: {}", nodename, text);
    try {
        if (const auto node = error_node(nodename)) {
            client.write(*node, text);
        }
        (void)write_if_present(client, nodename, "error", text);
    } catch (const std::exception& e) {
        spdlog::error("{}: failed to write the error node ({}): {}", nodename, text, e.what());
    }
}

std::optional<xen::XenbusState> xenbus_read_driver_state(Client& client, std::string_view path,
                                                         std::string* raw) {
    const std::optional<std::string> text = client.try_read(std::string(path) + "/state");
    if (raw != nullptr) {
        *raw = text.value_or("");
    }
    if (!text) {
        return std::nullopt;
    }
    return xen::xenbus_state_from_node(*text);
}

std::map<std::uint32_t, std::string> xenbus_read_devices(Client& client,
                                                         std::string_view directory) {
    std::map<std::uint32_t, std::string> devices;
    std::vector<std::string> names;
    try {
        names = client.directory(std::string(directory));
    } catch (const Error& e) {
        if (e.errnum() == ENOENT) {
            return devices;
        }
        throw;
    }
    for (const std::string& name : names) {
        if (const auto devid = xen::parse_node_u32(name)) {
            devices.emplace(*devid, std::string(directory) + "/" + name);
        } else {
            spdlog::warn("{}/{}: not a device number; ignored", directory, name);
        }
    }
    return devices;
}

std::vector<std::uint32_t> xenbus_devids(Client& client, std::string_view directory) {
    std::vector<std::uint32_t> devids;
    try {
        for (const auto& [devid, path] : xenbus_read_devices(client, directory)) {
            devids.push_back(devid);
        }
    } catch (const Error&) {
    }
    return devids;
}

XenbusDevice::XenbusDevice(Client& client, std::string nodename, std::string otherend,
                           xen::DomId otherend_id)
    : client_(&client),
      nodename_(std::move(nodename)),
      otherend_(std::move(otherend)),
      otherend_id_(otherend_id) {}

bool XenbusDevice::switch_state(xen::XenbusState state) {
    if (state == state_) {
        return false;
    }
    const bool written = xenbus_switch_state(*client_, nodename_, state);
    if (written) {
        spdlog::info("{}: {} -> {}", nodename_, xen::name(state_), xen::name(state));
        state_ = state;
    } else {
        spdlog::debug("{}: not switching to {}: the device is gone", nodename_, xen::name(state));
    }
    return written;
}

void XenbusDevice::dev_error(int errnum, const std::string& message) noexcept {
    last_error_ = message;
    xenbus_dev_error(*client_, nodename_, errnum, message);
}

void XenbusDevice::dev_fatal(int errnum, const std::string& message) noexcept {
    dev_error(errnum, message);
    try {
        (void)switch_state(xen::XenbusState::closing);
    } catch (const std::exception& e) {
        spdlog::error("{}: switching to Closing: {}", nodename_, e.what());
    }
}

std::optional<xen::XenbusState> XenbusDevice::read_otherend_state(std::string* raw) const {
    return xenbus_read_driver_state(*client_, otherend_, raw);
}

bool XenbusDevice::is_online() const {
    return client_->try_read(node("online")).value_or("") == "1";
}

}  // namespace pvsim::xenstore::client
