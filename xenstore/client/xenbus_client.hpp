// The xenbus calls every split driver makes on its device's nodes, at both
// ends (Linux drivers/xen/xenbus/xenbus_client.c and xenbus_probe.c):
// xenbus_switch_state, xenbus_dev_error / xenbus_dev_fatal,
// xenbus_read_driver_state, xenbus_dev_is_online, and XenbusDevice, one
// end's view of a device (struct xenbus_device: nodename, otherend,
// otherend_id and the state this end last switched to).
//
// Paths are absolute. Like Linux's, switching state and writing the error
// beside it never recreate a directory the toolstack has removed: they
// write only while the device's `state` node exists, in one transaction
// with that check.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/xen/grant_table.hpp"
#include "common/xen/xenbus.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::xenstore::client {

// __xenbus_switch_state's write: in one transaction, `state` into
// <nodename>/state if that node exists. Returns whether it was written;
// throws Error when xenstored fails.
bool xenbus_switch_state(Client& client, std::string_view nodename, xen::XenbusState state);

// xenbus_va_dev_error: "<errno> <message>" into error/<nodename>/error under
// the device's domain (error_node), and into <nodename>/error while the
// device exists, where the toolstack reads it beside the state (pvsim's
// addition). Logs it. Never throws: a node it cannot write is logged.
void xenbus_dev_error(Client& client, std::string_view nodename, int errnum,
                      std::string_view message) noexcept;

// xenbus_read_driver_state of the node `path`/state: nullopt when it is
// missing (Linux reads XenbusStateUnknown) or holds something that is not
// a state number; `raw` gets what was there (empty when missing).
std::optional<xen::XenbusState> xenbus_read_driver_state(Client& client, std::string_view path,
                                                         std::string* raw = nullptr);

// xenbus_directory of a device-kind directory (device/<type>, as
// xenbus_probe_devices reads it): devid -> the device's directory, for each
// name below it that is a decimal number (any other name is logged and
// skipped); none when the directory is missing. Throws Error when it cannot
// be read otherwise, so that a probe does not take a failed read for every
// device gone.
std::map<std::uint32_t, std::string> xenbus_read_devices(Client& client,
                                                         std::string_view directory);

// The devids of xenbus_read_devices in increasing order; none when the
// directory cannot be read.
std::vector<std::uint32_t> xenbus_devids(Client& client, std::string_view directory);

class XenbusDevice {
  public:
    // `nodename`: this end's directory, e.g. /local/domain/0/backend/vbd/1/
    // 51712; `otherend` the other end's.
    XenbusDevice(Client& client, std::string nodename, std::string otherend,
                 xen::DomId otherend_id);

    const std::string& nodename() const noexcept { return nodename_; }
    const std::string& otherend() const noexcept { return otherend_; }
    xen::DomId otherend_id() const noexcept { return otherend_id_; }
    Client& client() const noexcept { return *client_; }
    // <nodename>/<key>, <otherend>/<key>.
    std::string node(std::string_view key) const { return nodename_ + "/" + std::string(key); }
    std::string other(std::string_view key) const { return otherend_ + "/" + std::string(key); }

    // The state this end last switched to (Linux dev->state): Initialising
    // at first, what the toolstack wrote (xenbus_probe_node). The node may
    // say otherwise when the toolstack wrote it (detach).
    xen::XenbusState state() const noexcept { return state_; }

    // xenbus_switch_state: nothing when `state` is the current one; else
    // writes it if the device still exists, and logs the change. Returns
    // whether it was written; throws Error when xenstored fails.
    bool switch_state(xen::XenbusState state);

    // xenbus_dev_error, remembering the message. Never throws.
    void dev_error(int errnum, const std::string& message) noexcept;
    // xenbus_dev_fatal: dev_error, then switch_state(Closing). Never throws.
    void dev_fatal(int errnum, const std::string& message) noexcept;
    // The last message given to dev_error, empty if none.
    const std::string& last_error() const noexcept { return last_error_; }

    // xenbus_read_driver_state of the other end.
    std::optional<xen::XenbusState> read_otherend_state(std::string* raw = nullptr) const;
    // xenbus_dev_is_online: "online" reads 1 (missing or anything else: no).
    bool is_online() const;

  private:
    Client* client_;
    std::string nodename_;
    std::string otherend_;
    xen::DomId otherend_id_;
    xen::XenbusState state_ = xen::XenbusState::initialising;
    std::string last_error_;
};

}  // namespace pvsim::xenstore::client
