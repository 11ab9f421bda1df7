#include "backend/blkback/xenbus_device.hpp"

#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::backend::blkback {

XenbusDevice::XenbusDevice(xenstore::client::Client& client, std::string home, std::string nodename,
                           std::string otherend, xen::DomId otherend_id)
    : client_(&client),
      home_(std::move(home)),
      nodename_(std::move(nodename)),
      otherend_(std::move(otherend)),
      otherend_id_(otherend_id) {}

bool XenbusDevice::write_if_present(std::string_view key, const std::string& value) {
    const std::string state_path = node("state");
    const std::string path = node(key);
    return client_->transact([&](xenstore::client::Transaction& t) {
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

bool XenbusDevice::switch_state(xen::XenbusState state) {
    if (state == state_) {
        return false;
    }
    const bool written =
        write_if_present("state", std::to_string(static_cast<std::uint32_t>(state)));
    if (written) {
        spdlog::info("{}: {} -> {}", nodename_, xen::name(state_), xen::name(state));
        state_ = state;
    } else {
        spdlog::debug("{}: not switching to {}: the device is gone", nodename_, xen::name(state));
    }
    return written;
}

void XenbusDevice::dev_error(int errnum, const std::string& message) noexcept {
    const std::string text = std::to_string(errnum) + " " + message;
    last_error_ = message;
    spdlog::error("{}: {}", nodename_, text);
    try {
        // xenbus_va_dev_error: "error/<nodename>" relative to the domain's
        // home, key "error".
        std::string relative = nodename_;
        if (relative.starts_with(home_ + "/")) {
            relative.erase(0, home_.size() + 1);
        } else if (relative.starts_with("/")) {
            relative.erase(0, 1);
        }
        client_->write(home_ + "/error/" + relative + "/error", text);
        (void)write_if_present("error", text);
    } catch (const std::exception& e) {
        spdlog::error("{}: failed to write the error node ({}): {}", nodename_, text, e.what());
    }
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
    const std::optional<std::string> text = client_->try_read(other("state"));
    if (raw != nullptr) {
        *raw = text.value_or("");
    }
    if (!text) {
        return std::nullopt;
    }
    return xen::xenbus_state_from_node(*text);
}

bool XenbusDevice::is_online() const {
    return client_->try_read(node("online")).value_or("") == "1";
}

}  // namespace pvsim::backend::blkback
