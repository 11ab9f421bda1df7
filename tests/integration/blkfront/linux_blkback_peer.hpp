// A scripted Linux blkback, the judge of pvsim's blkfront control plane: a
// dom0 client of the real pvsim-xenstored and pvsim-hypervisor whose state
// handling is Linux 6.1's drivers/block/xen-blkback/xenbus.c case by case
// (xen_blkbk_probe, frontend_changed, connect, xen_blkbk_remove), on
// Linux's xenbus core (xenbus_client.c __xenbus_switch_state and
// xenbus_dev_fatal, xenbus_probe.c xenbus_dev_remove with blkback's
// allow_rebind), each case naming its function. The data is served by
// TestBackend, which maps a grant per segment: Linux blkback loaded with
// feature_persistent=0, on a device with a write cache and no discard.
// A script can make it fail on purpose: an error before InitWait, or bad
// values in its disk nodes.
//
// Also the toolstack's part (libxl_device.c / libxl_disk.c): writing both
// device directories, and a detach (online=0, state Closing).
#pragma once

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/run_dir.hpp"
#include "common/xen/xenbus.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "tests/integration/blkfront/test_backend.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {

inline std::string frontend_dir(xen::DomId frontend, std::uint32_t devid) {
    return "/local/domain/" + std::to_string(frontend) + "/device/vbd/" + std::to_string(devid);
}
inline std::string backend_dir(xen::DomId backend, xen::DomId frontend, std::uint32_t devid) {
    return "/local/domain/" + std::to_string(backend) + "/backend/vbd/" + std::to_string(frontend) +
           "/" + std::to_string(devid);
}

// The toolstack's two directories, in one transaction, as libxl writes them.
inline void toolstack_add_vbd(xenstore::client::Client& xs, xen::DomId frontend,
                              std::uint32_t devid, std::optional<std::string> poll_us = {}) {
    const std::string f = frontend_dir(frontend, devid);
    const std::string b = backend_dir(0, frontend, devid);
    xs.transact([&](xenstore::client::Transaction& t) {
        const std::map<std::string, std::string> backend_nodes = {
            {"frontend", f},         {"frontend-id", std::to_string(frontend)},
            {"online", "1"},         {"removable", "0"},
            {"bootable", "1"},       {"state", "1"},
            {"dev", "xvda"},         {"type", "phy"},
            {"mode", "w"},           {"device-type", "disk"},
            {"params", "/dev/null"}, {"direct", "0"},
            {"poll-us", "50"}};
        for (const auto& [key, value] : backend_nodes) {
            t.write(b + "/" + key, value);
        }
        std::map<std::string, std::string> frontend_nodes = {
            {"backend", b},
            {"backend-id", "0"},
            {"state", "1"},
            {"virtual-device", std::to_string(devid)},
            {"device-type", "disk"}};
        if (poll_us) {
            frontend_nodes["poll-us"] = *poll_us;
        }
        for (const auto& [key, value] : frontend_nodes) {
            t.write(f + "/" + key, value);
        }
        using xen::xs::Access;
        t.set_perms(b, {{Access::none, 0}, {Access::read, frontend}});
        t.set_perms(f, {{Access::none, frontend}, {Access::read, 0}});
    });
}

// libxl's detach: online=0 and Closing in one transaction.
inline void toolstack_detach(xenstore::client::Client& xs, xen::DomId frontend,
                             std::uint32_t devid) {
    const std::string b = backend_dir(0, frontend, devid);
    xs.transact([&](xenstore::client::Transaction& t) {
        t.write(b + "/online", "0");
        t.write(b + "/state", "5");
    });
}

class LinuxBlkbackPeer {
  public:
    struct Script {
        std::uint64_t sectors = 8192;
        std::optional<std::string> sectors_text;  // written instead of `sectors`
        std::string info = "0";
        // Fail before InitWait: this text in B/error (and, if set, in the
        // Linux xenbus_dev_fatal place only), then Closing.
        std::optional<std::string> fail_with;
        bool error_only_where_linux_puts_it = false;
    };

    LinuxBlkbackPeer(const HypervisorProcess& hv, xen::DomId frontend, std::uint32_t devid,
                     Script script)
        : hypervisor_(hv.connect_dom0()),
          xs_(xenstore::client::Client::connect(hv.run_dir())),
          frontend_(frontend),
          devid_(devid),
          script_(std::move(script)),
          f_(frontend_dir(frontend, devid)),
          b_(backend_dir(0, frontend, devid)) {}

    ~LinuxBlkbackPeer() {
        release_close();  // a callback held there would hold up unwatch()
        watch_.unwatch();
        std::lock_guard lock(mutex_);
        data_.reset();
    }

    // xen_blkbk_probe, then xenbus_dev_probe's watch_otherend.
    void start() {
        if (script_.fail_with) {
            const std::string path =
                script_.error_only_where_linux_puts_it ? error_node() : b_ + "/error";
            xs_.write(path, *script_.fail_with);
            switch_state(xen::XenbusState::closing);
        } else {
            xs_.write(b_ + "/feature-max-indirect-segments", "0");
            xs_.write(b_ + "/multi-queue-max-queues", "1");
            xs_.write(b_ + "/max-ring-page-order", "0");
            switch_state(xen::XenbusState::init_wait);
        }
        watch_ = xs_.watch(f_ + "/state", "linux-blkback",
                           [this](const xenstore::client::WatchEvent&) { otherend_changed(); });
    }

    // States this backend wrote, in order.
    std::vector<xen::XenbusState> written() {
        std::lock_guard lock(mutex_);
        return written_;
    }
    // The frontend's ring keys as read at Initialised.
    std::map<std::string, std::string> frontend_keys() {
        std::lock_guard lock(mutex_);
        return keys_;
    }
    TestBackend* data() {
        std::lock_guard lock(mutex_);
        return data_.get();
    }
    // Whether the device went through device_unregister (xenbus_dev_remove).
    bool removed() {
        std::lock_guard lock(mutex_);
        return removed_;
    }
    // A backend slow to let go: the next frontend Closed waits, before
    // xen_blkif_disconnect, until release_close(), so the ring stays
    // mapped and the backend's state stays where it was (Closing after a
    // detach).
    void hold_close() {
        std::lock_guard lock(mutex_);
        close_held_ = true;
    }
    void release_close() {
        {
            std::lock_guard lock(mutex_);
            close_held_ = false;
        }
        close_released_.notify_all();
    }
    // Whether a frontend Closed is waiting on hold_close().
    bool close_waiting() {
        std::lock_guard lock(mutex_);
        return close_waiting_;
    }

    // xen_vbd_resize: new sectors, and the state written again in the same
    // transaction so that the frontend's watch fires.
    void resize(std::uint64_t sectors) {
        xs_.transact([&](xenstore::client::Transaction& t) {
            t.write(b_ + "/sectors", std::to_string(sectors));
            t.write(b_ + "/state", "4");
        });
    }

    // What a Linux 5.6+ blkback writes when it is unbound and bound again
    // under a Connected frontend: xenbus_dev_remove leaves the state alone
    // (allow_rebind), xen_blkbk_probe switches to InitWait, then
    // frontend_changed finds the frontend Connected and connect_ring ->
    // connect() publishes the disk and switches to Connected. The ring is
    // served throughout by the same TestBackend: with nothing in flight,
    // BACK_RING_ATTACH at rsp_prod is where it already is.
    void rebind() {
        switch_state(xen::XenbusState::init_wait);
        publish_disk();
        switch_state(xen::XenbusState::connected);
    }

  private:
    xen::XenbusState dev_state() {
        std::lock_guard lock(mutex_);
        return state_;
    }

    // xenbus_va_dev_error's node: error/<nodename> under this domain's home.
    std::string error_node() const {
        return "/local/domain/0/error/backend/vbd/" + std::to_string(frontend_) + "/" +
               std::to_string(devid_) + "/error";
    }

    // __xenbus_switch_state: nothing when the state is dev->state already
    // (no watch fired for nothing), nothing written when the node has gone
    // (the directory is not resurrected), and dev->state updated either way.
    // Recorded before the write: the frontend may act on it before it
    // returns.
    void switch_state(xen::XenbusState state) {
        {
            std::lock_guard lock(mutex_);
            if (state == state_) {
                return;
            }
            state_ = state;
        }
        bool recorded = false;  // once, however often the transaction runs
        xs_.transact([&](xenstore::client::Transaction& t) {
            if (!t.try_read(b_ + "/state")) {
                return;
            }
            if (!std::exchange(recorded, true)) {
                std::lock_guard lock(mutex_);
                written_.push_back(state);
            }
            t.write(b_ + "/state", std::to_string(static_cast<unsigned>(state)));
        });
    }

    // xenbus_dev_fatal: "<errno> <message>" where xenbus_va_dev_error puts
    // it, then Closing.
    void dev_fatal(int err, const std::string& message) {
        xs_.write(error_node(), std::to_string(err) + " " + message);
        switch_state(xen::XenbusState::closing);
    }

    // xenbus_otherend_changed: the frontend's state as
    // xenbus_read_driver_state reads it (missing or unreadable: Unknown),
    // on every event, with no memory of the last one.
    void otherend_changed() {
        {
            std::lock_guard lock(mutex_);
            if (removed_) {
                return;
            }
        }
        const auto text = xs_.try_read(f_ + "/state");
        const auto state = text ? xen::xenbus_state_from_node(*text) : std::nullopt;
        frontend_changed(state.value_or(xen::XenbusState::unknown));
    }

    // frontend_changed (Linux 6.1 xen-blkback/xenbus.c), case by case.
    void frontend_changed(xen::XenbusState frontend_state) {
        using S = xen::XenbusState;
        switch (frontend_state) {
            case S::initialising:
                // "prepare for reconnect"
                if (dev_state() == S::closed) {
                    switch_state(S::init_wait);
                }
                break;
            case S::initialised:
            case S::connected:
                // "Ensure we connect even when two watches fire in close
                // succession and we miss the intermediate value".
                if (dev_state() == S::connected) {
                    break;
                }
                if (blkif_disconnect() != 0) {
                    dev_fatal(EBUSY, "pending I/O");
                    break;
                }
                connect_ring();
                // xen_update_blkif_status -> connect()
                publish_disk();
                switch_state(S::connected);
                break;
            case S::closing:
                switch_state(S::closing);
                break;
            case S::closed:
                wait_while_close_held();
                blkif_disconnect();
                switch_state(S::closed);
                if (dev_is_online()) {
                    break;
                }
                [[fallthrough]];
            case S::unknown:
                device_unregister();
                break;
            default:
                dev_fatal(EINVAL, "saw state " +
                                      std::to_string(static_cast<unsigned>(frontend_state)) +
                                      " at frontend");
                break;
        }
    }

    void wait_while_close_held() {
        std::unique_lock lock(mutex_);
        close_waiting_ = close_held_;
        close_released_.wait(lock, [this] { return !close_held_; });
        close_waiting_ = false;
    }

    // xenbus_dev_is_online: the toolstack's "online" node; missing is 0.
    bool dev_is_online() { return xs_.try_read(b_ + "/online").value_or("0") == "1"; }

    // device_unregister -> xenbus_dev_remove: the watch goes
    // (free_otherend_watch), xen_blkbk_remove disconnects, and with
    // blkback's allow_rebind the state is set to Closed only when the
    // toolstack forced it to Closing.
    void device_unregister() {
        {
            std::lock_guard lock(mutex_);
            removed_ = true;
        }
        blkif_disconnect();
        const auto text = xs_.try_read(b_ + "/state");
        if (text && xen::xenbus_state_from_node(*text) == xen::XenbusState::closing) {
            switch_state(xen::XenbusState::closed);
        }
    }

    // xen_blkif_disconnect: -EBUSY while requests are in flight (their
    // answers still reach the ring from the end_io path, and the ring goes
    // with the last of them); otherwise the ring is unmapped.
    int blkif_disconnect() {
        std::lock_guard lock(mutex_);
        if (data_ == nullptr) {
            return 0;
        }
        if (data_->stats().responses < data_->stats().requests) {
            return -EBUSY;
        }
        data_.reset();
        return 0;
    }

    // connect_ring: the frontend's keys, then the ring mapped and its event
    // channel bound.
    void connect_ring() {
        std::map<std::string, std::string> keys;
        for (const char* key : {"ring-ref", "event-channel", "protocol", "feature-persistent"}) {
            keys[key] = xs_.try_read(f_ + "/" + key).value_or("<missing>");
        }
        auto data = std::make_unique<TestBackend>(
            hypervisor_, frontend_, static_cast<xen::GrantRef>(std::stoul(keys["ring-ref"])),
            static_cast<xen::EvtchnPort>(std::stoul(keys["event-channel"])), script_.sectors);
        std::lock_guard lock(mutex_);
        keys_ = keys;
        data_ = std::move(data);
    }

    // connect(): the disk in one transaction (xen_blkbk_flush_diskcache and
    // xen_blkbk_barrier both from the device's flush support,
    // xen_blkbk_discard nothing for a device without discard), then
    // Connected on its own.
    void publish_disk() {
        xs_.transact([&](xenstore::client::Transaction& t) {
            t.write(b_ + "/feature-flush-cache", "1");
            t.write(b_ + "/feature-barrier", "1");
            t.write(b_ + "/feature-persistent", "0");
            t.write(b_ + "/sectors",
                    script_.sectors_text.value_or(std::to_string(script_.sectors)));
            t.write(b_ + "/info", script_.info);
            t.write(b_ + "/sector-size", "512");
            t.write(b_ + "/physical-sector-size", "512");
        });
    }

    hypervisor::Hypervisor hypervisor_;
    xenstore::client::Client xs_;
    const xen::DomId frontend_;
    const std::uint32_t devid_;
    const Script script_;
    const std::string f_;
    const std::string b_;

    std::mutex mutex_;
    std::vector<xen::XenbusState> written_;
    xen::XenbusState state_ = xen::XenbusState::initialising;  // dev->state
    bool removed_ = false;
    std::map<std::string, std::string> keys_;
    std::unique_ptr<TestBackend> data_;
    bool close_held_ = false;
    bool close_waiting_ = false;
    std::condition_variable close_released_;
    xenstore::client::Watch watch_;
};

}  // namespace pvsim::test
