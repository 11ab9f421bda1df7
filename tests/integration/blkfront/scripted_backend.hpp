// A scripted blkback control plane for the blkfront control-plane tests: a
// dom0 client of the real pvsim-xenstored and pvsim-hypervisor that follows
// the shared plan's backend side of the handshake key for key (publish
// limits, InitWait; on frontend Initialised read ring-ref, event-channel and
// protocol, map and bind, publish the disk in one transaction, Connected;
// on frontend Closing mirror it; on frontend Closed finish what is in
// flight, disconnect, Closed), with
// the data served by TestBackend. A script can make it fail on purpose:
// an error before InitWait, or bad values in its disk nodes.
//
// Also the toolstack's part (libxl_device.c / libxl_disk.c): writing both
// device directories, and a detach (online=0, state Closing).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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

class ScriptedBackend {
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

    ScriptedBackend(const HypervisorProcess& hv, xen::DomId frontend, std::uint32_t devid,
                    Script script)
        : hypervisor_(hv.connect_dom0()),
          xs_(xenstore::client::Client::connect(hv.run_dir())),
          frontend_(frontend),
          script_(std::move(script)),
          f_(frontend_dir(frontend, devid)),
          b_(backend_dir(0, frontend, devid)) {}

    ~ScriptedBackend() {
        watch_.unwatch();
        std::lock_guard lock(mutex_);
        data_.reset();
    }

    void start() {
        if (script_.fail_with) {
            const std::string path = script_.error_only_where_linux_puts_it
                                         ? "/local/domain/0/error/backend/vbd/" +
                                               std::to_string(frontend_) + "/" +
                                               b_.substr(b_.rfind('/') + 1) + "/error"
                                         : b_ + "/error";
            xs_.write(path, *script_.fail_with);
            switch_state(xen::XenbusState::closing);
        } else {
            record(xen::XenbusState::init_wait);
            xs_.transact([&](xenstore::client::Transaction& t) {
                t.write(b_ + "/feature-max-indirect-segments", "0");
                t.write(b_ + "/multi-queue-max-queues", "1");
                t.write(b_ + "/max-ring-page-order", "0");
                t.write(b_ + "/state", "2");
            });
        }
        watch_ = xs_.watch(f_ + "/state", "scripted-backend",
                           [this](const xenstore::client::WatchEvent&) { frontend_changed(); });
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
    // A resize: new sectors, Connected again.
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
        record(xen::XenbusState::connected);
        xs_.transact([&](xenstore::client::Transaction& t) {
            t.write(b_ + "/sectors", std::to_string(script_.sectors));
            t.write(b_ + "/state", "4");
        });
    }

  private:
    void record(xen::XenbusState state) {
        std::lock_guard lock(mutex_);
        written_.push_back(state);
        state_ = state;
    }
    // Recorded first: the frontend may act on the write before it returns.
    void switch_state(xen::XenbusState state) {
        record(state);
        xs_.write(b_ + "/state", std::to_string(static_cast<unsigned>(state)));
    }

    void frontend_changed() {
        const auto text = xs_.try_read(f_ + "/state");
        if (!text) {
            return;
        }
        const auto state = xen::xenbus_state_from_node(*text);
        if (!state || state == seen_) {
            return;
        }
        seen_ = *state;
        xen::XenbusState mine;
        {
            std::lock_guard lock(mutex_);
            mine = state_;
        }
        switch (*state) {
            case xen::XenbusState::initialised:
                if (mine == xen::XenbusState::init_wait) {
                    connect();
                }
                break;
            case xen::XenbusState::closing:
                // frontend_changed: mirror, wait for the frontend's Closed.
                if (mine != xen::XenbusState::closing && mine != xen::XenbusState::closed) {
                    switch_state(xen::XenbusState::closing);
                }
                break;
            case xen::XenbusState::closed:
                if (mine != xen::XenbusState::closed) {
                    disconnect();
                    switch_state(xen::XenbusState::closed);
                }
                break;
            default:
                break;
        }
    }

    void connect() {
        std::map<std::string, std::string> keys;
        for (const char* key : {"ring-ref", "event-channel", "protocol", "feature-persistent"}) {
            keys[key] = xs_.try_read(f_ + "/" + key).value_or("<missing>");
        }
        auto data = std::make_unique<TestBackend>(
            hypervisor_, frontend_, static_cast<xen::GrantRef>(std::stoul(keys["ring-ref"])),
            static_cast<xen::EvtchnPort>(std::stoul(keys["event-channel"])), script_.sectors);
        {
            std::lock_guard lock(mutex_);
            keys_ = keys;
            data_ = std::move(data);
        }
        record(xen::XenbusState::connected);
        xs_.transact([&](xenstore::client::Transaction& t) {
            t.write(b_ + "/sectors",
                    script_.sectors_text.value_or(std::to_string(script_.sectors)));
            t.write(b_ + "/sector-size", "512");
            t.write(b_ + "/physical-sector-size", "512");
            t.write(b_ + "/info", script_.info);
            t.write(b_ + "/feature-flush-cache", "1");
            t.write(b_ + "/feature-barrier", "0");
            t.write(b_ + "/feature-discard", "0");
            t.write(b_ + "/feature-persistent", "0");
            t.write(b_ + "/state", "4");
        });
    }

    // Finishes what is in flight, then lets go of the ring.
    void disconnect() {
        TestBackend* data = this->data();
        if (data != nullptr) {
            data->release();
            eventually([&] { return data->stats().responses >= data->stats().requests; });
        }
        std::lock_guard lock(mutex_);
        data_.reset();
    }

    hypervisor::Hypervisor hypervisor_;
    xenstore::client::Client xs_;
    const xen::DomId frontend_;
    const Script script_;
    const std::string f_;
    const std::string b_;

    std::mutex mutex_;
    std::vector<xen::XenbusState> written_;
    xen::XenbusState state_ = xen::XenbusState::initialising;
    std::optional<xen::XenbusState> seen_;  // dispatch thread only
    std::map<std::string, std::string> keys_;
    std::unique_ptr<TestBackend> data_;
    xenstore::client::Watch watch_;
};

}  // namespace pvsim::test
