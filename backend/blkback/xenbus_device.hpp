// One end of a split device as a backend sees it in xenstore: its own
// directory (the nodename), the other end's, and the xenbus calls Linux
// drivers make on them (drivers/xen/xenbus/xenbus_client.c and
// xenbus_probe.c): xenbus_switch_state, xenbus_dev_error /
// xenbus_dev_fatal, xenbus_read_driver_state, xenbus_dev_is_online.
//
// Paths are absolute. Like Linux's, switch_state and the error node never
// recreate a directory the toolstack has removed: they write only while the
// device's `state` node exists, in one transaction with that check.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/xen/grant_table.hpp"
#include "common/xen/xenbus.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::backend::blkback {

class XenbusDevice {
  public:
    // `nodename`: e.g. /local/domain/0/backend/vbd/1/51712 (the backend
    // domain's home is `home`, e.g. /local/domain/0).
    XenbusDevice(xenstore::client::Client& client, std::string home, std::string nodename,
                 std::string otherend, xen::DomId otherend_id);

    const std::string& nodename() const noexcept { return nodename_; }
    const std::string& otherend() const noexcept { return otherend_; }
    xen::DomId otherend_id() const noexcept { return otherend_id_; }
    xenstore::client::Client& client() const noexcept { return *client_; }
    // <nodename>/<key>, <otherend>/<key>.
    std::string node(std::string_view key) const { return nodename_ + "/" + std::string(key); }
    std::string other(std::string_view key) const { return otherend_ + "/" + std::string(key); }

    // The state this end last switched to (Linux dev->state); the node may
    // say otherwise when the toolstack wrote it (detach).
    xen::XenbusState state() const noexcept { return state_; }

    // xenbus_switch_state: nothing when `state` is the current one; else,
    // in one transaction, writes it if the device still exists. Returns
    // whether it was written.
    bool switch_state(xen::XenbusState state);

    // xenbus_dev_error: "<errno> <message>" into error/<nodename>/error
    // under this domain's home, as Linux writes it, and into
    // <nodename>/error, where the toolstack reads it beside the state
    // (pvsim's addition). Logs it. Never throws.
    void dev_error(int errnum, const std::string& message) noexcept;
    // xenbus_dev_fatal: dev_error, then switch_state(Closing). Never throws.
    void dev_fatal(int errnum, const std::string& message) noexcept;
    // The last message given to dev_error, empty if none.
    const std::string& last_error() const noexcept { return last_error_; }

    // xenbus_read_driver_state of the other end: nullopt when the node is
    // missing (Linux reads XenbusStateUnknown) or holds something that is
    // not a state number.
    std::optional<xen::XenbusState> read_otherend_state(std::string* raw = nullptr) const;
    // xenbus_dev_is_online: "online" reads 1 (missing or anything else: no).
    bool is_online() const;

  private:
    // Writes `key` = `value` under nodename in one transaction, if the
    // device's state node still exists.
    bool write_if_present(std::string_view key, const std::string& value);

    xenstore::client::Client* client_;
    std::string home_;
    std::string nodename_;
    std::string otherend_;
    xen::DomId otherend_id_;
    // Linux's xenbus_probe_node starts every device at Initialising, which
    // is what the toolstack wrote.
    xen::XenbusState state_ = xen::XenbusState::initialising;
    std::string last_error_;
};

}  // namespace pvsim::backend::blkback
