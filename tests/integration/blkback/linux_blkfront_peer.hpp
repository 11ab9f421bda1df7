// A frontend control plane that does what Linux 6.1's blkfront does with
// the backend's state, case by case, so that pvsim's blkback is judged by
// Linux's logic rather than by states a test writes itself. It lives in the
// test process: its ring is a TestFrontend (dom0 granting its own pages, as
// `xl block-attach 0` gives dom0 a disk of its own), its xenstore
// connection is its own, and its watch on the backend's state runs
// blkback_changed (drivers/block/xen-blkfront.c) on the client's dispatch
// thread, one event at a time as Linux's xenwatch thread does.
//
// It records every state it writes (it is the writer, so nothing is lost),
// and the backend state it read at each watch event (what blkback_changed
// was given, which may be a later value than the write that fired it, in
// Linux as here).
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/xen/xenbus.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "tests/integration/blkback/test_frontend.hpp"
#include "tools/toolstack/vbd.hpp"
#include "xenstore/client/client.hpp"
#include "xenstore/client/xenbus_client.hpp"

namespace pvsim::test {

class LinuxBlkfrontPeer {
  public:
    // What blkfront_connect read from the backend (info->... in Linux).
    struct Disk {
        std::uint64_t sectors = 0;
        std::uint64_t info = 0;
        std::uint64_t sector_size = 0;
        std::uint64_t physical_sector_size = 0;
        bool flush = false;       // feature-flush-cache
        bool barrier = false;     // feature-barrier
        bool discard = false;     // feature-discard
        bool persistent = false;  // feature-persistent, both ends
        std::uint64_t max_indirect_segments = 0;
    };

    // Probed on a vbd the toolstack wrote (xenbus_probe_node: the device
    // starts Initialising, the state the toolstack wrote); the watch's
    // first event runs blkback_changed with the backend's current state.
    LinuxBlkfrontPeer(const std::filesystem::path& xenstored_socket, hypervisor::Hypervisor& hv,
                      tools::toolstack::VbdPaths paths)
        : hv_(hv),
          paths_(std::move(paths)),
          client_(xenstore::client::Client::connect(xenstored_socket)),
          watch_(
              client_.watch(paths_.backend + "/state", "linux-blkfront-peer",
                            [this](const xenstore::client::WatchEvent&) { otherend_changed(); })) {}
    ~LinuxBlkfrontPeer() { stop(); }
    LinuxBlkfrontPeer(const LinuxBlkfrontPeer&) = delete;
    LinuxBlkfrontPeer& operator=(const LinuxBlkfrontPeer&) = delete;

    // The guest is gone: nothing reacts to the backend any more (its ring
    // and grants stay, as a dead domain's do until it is destroyed).
    void stop() { watch_.unwatch(); }

    // Waits (on the peer's own progress, not a clock) until `done` holds.
    template <typename Predicate>
    bool wait_until(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return done(*this); });
    }
    bool wait_for_state(xen::XenbusState state) {
        return wait_until([state](const LinuxBlkfrontPeer& p) { return p.state() == state; });
    }

    // For wait_until's predicate, which runs with the peer's lock held.
    xen::XenbusState state() const { return state_; }
    const Disk& disk() const { return disk_; }
    unsigned capacity_updates() const { return capacity_updates_; }

    // Copies, for a test thread while the peer runs. The states this end
    // wrote, in order (only those written: none once
    // its node is gone).
    std::vector<xen::XenbusState> writes() {
        std::lock_guard lock(mutex_);
        return written_;
    }
    // The backend state blkback_changed was given at each watch event.
    std::vector<xen::XenbusState> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    Disk connected_disk() {
        std::lock_guard lock(mutex_);
        return disk_;
    }
    unsigned capacity_update_count() {
        std::lock_guard lock(mutex_);
        return capacity_updates_;
    }
    // What a watch event's handling threw (a xenstore or grant call that
    // failed), which Linux would have reported as an error.
    std::vector<std::string> failures() {
        std::lock_guard lock(mutex_);
        return errors_;
    }
    // The ring talk_to_blkback set up (null before it ran).
    TestFrontend* ring() {
        std::lock_guard lock(mutex_);
        return front_.get();
    }

  private:
    // blkfront's own limits, Linux 6.1's module defaults for a one-vCPU
    // guest: xen_blkif_max_ring_order 0, xen_blkif_max_queues
    // min(4, num_online_cpus()) = 1, feature_persistent true.
    static constexpr unsigned kMaxRingPageOrder = 0;
    static constexpr bool kFeaturePersistent = true;
    static constexpr std::size_t kDataPages = 2;

    // xenbus_otherend_changed (drivers/xen/xenbus/xenbus_probe.c): the
    // state is read when the event is handled (xenbus_read_driver_state:
    // Unknown when the node is gone or unreadable), then the driver's
    // otherend_changed runs.
    void otherend_changed() {
        const xen::XenbusState backend_state =
            xenstore::client::xenbus_read_driver_state(client_, paths_.backend)
                .value_or(xen::XenbusState::unknown);
        std::lock_guard lock(mutex_);
        seen_.push_back(backend_state);
        try {
            blkback_changed(backend_state);
        } catch (const std::exception& e) {
            errors_.push_back(e.what());
        }
        changed_.notify_all();
    }

    // Linux 6.1 blkback_changed, case by case.
    void blkback_changed(xen::XenbusState backend_state) {
        switch (backend_state) {
            case xen::XenbusState::init_wait:
                // "if (dev->state != XenbusStateInitialising) break;": a
                // backend that (re)starts while this end is past
                // Initialising is not answered again.
                if (state_ != xen::XenbusState::initialising) {
                    break;
                }
                talk_to_blkback();
                break;
            case xen::XenbusState::initialising:
            case xen::XenbusState::initialised:
            case xen::XenbusState::reconfiguring:
            case xen::XenbusState::reconfigured:
            case xen::XenbusState::unknown:
                break;
            case xen::XenbusState::connected:
                // "talk_to_blkback sets state to XenbusStateInitialised and
                // blkfront_connect sets it to XenbusStateConnected"; a
                // Connected written again is how the backend announces a
                // new size.
                if (state_ != xen::XenbusState::initialised &&
                    state_ != xen::XenbusState::connected) {
                    talk_to_blkback();
                }
                blkfront_connect();
                break;
            case xen::XenbusState::closed:
                if (state_ == xen::XenbusState::closed) {
                    break;
                }
                [[fallthrough]];
            case xen::XenbusState::closing:
                blkfront_closing();
                break;
        }
    }

    // Linux 6.1 talk_to_blkback: setup_blkring (the ring's pages granted to
    // the backend, an unbound port), then one transaction of the ring's
    // keys, and Initialised. A failure throws, which ends blkback_changed
    // there as Linux's error return does (no blkfront_connect).
    void talk_to_blkback() {
        const std::string& be = paths_.backend;
        const std::string& fe = paths_.frontend;
        const unsigned ring_page_order = static_cast<unsigned>(std::min<std::uint64_t>(
            kMaxRingPageOrder, read_number(be + "/max-ring-page-order").value_or(0)));
        front_.reset();  // blkif_free of an earlier ring
        front_ =
            std::make_unique<TestFrontend>(hv_, paths_.backend_domid, kDataPages, ring_page_order);
        // negotiate_mq: one ring, so no multi-queue-num-queues and the
        // per-ring keys in the device's own directory.
        client_.transact([&](xenstore::client::Transaction& t) {
            if (ring_page_order == 0) {
                t.write(fe + "/ring-ref", std::to_string(front_->ring_ref()));
            } else {
                t.write(fe + "/ring-page-order", std::to_string(ring_page_order));
                for (std::size_t i = 0; i < front_->ring_refs().size(); ++i) {
                    t.write(fe + "/ring-ref" + std::to_string(i),
                            std::to_string(front_->ring_refs()[i]));
                }
            }
            t.write(fe + "/event-channel", std::to_string(front_->port()));
            t.write(fe + "/protocol", "x86_64-abi");  // XEN_IO_PROTO_ABI_NATIVE
            t.write(fe + "/feature-persistent", kFeaturePersistent ? "1" : "0");
        });
        switch_state(xen::XenbusState::initialised);
    }

    // Linux 6.1 blkfront_connect.
    void blkfront_connect() {
        const std::string& be = paths_.backend;
        if (connected_) {
            // BLKIF_STATE_CONNECTED: "the back-end may be signalling a
            // capacity change": sectors is read again, nothing is written
            // (XENBUS_EXIST_ERR: no node, nothing done).
            if (const auto sectors = read_number(be + "/sectors")) {
                disk_.sectors = *sectors;
                ++capacity_updates_;
            }
            return;
        }
        // xenbus_gather of sectors, info and sector-size; a failure is
        // xenbus_dev_fatal (the error node, then Closing).
        const auto sectors = read_number(be + "/sectors");
        const auto info = read_number(be + "/info");
        const auto sector_size = read_number(be + "/sector-size");
        if (!sectors || !info || !sector_size) {
            xenstore::client::xenbus_dev_error(client_, paths_.frontend, EINVAL,
                                               "reading backend fields at " + be);
            switch_state(xen::XenbusState::closing);
            return;
        }
        disk_.sectors = *sectors;
        disk_.info = *info;
        disk_.sector_size = *sector_size;
        disk_.physical_sector_size =
            read_number(be + "/physical-sector-size").value_or(*sector_size);
        // blkfront_gather_backend_features.
        disk_.flush = read_number(be + "/feature-flush-cache").value_or(0) != 0;
        disk_.barrier = read_number(be + "/feature-barrier").value_or(0) != 0;
        disk_.discard = read_number(be + "/feature-discard").value_or(0) != 0;
        disk_.persistent =
            kFeaturePersistent && read_number(be + "/feature-persistent").value_or(0) != 0;
        disk_.max_indirect_segments =
            read_number(be + "/feature-max-indirect-segments").value_or(0);
        switch_state(xen::XenbusState::connected);
        connected_ = true;  // info->connected = BLKIF_STATE_CONNECTED
    }

    // Linux 6.1 blkfront_closing: nothing if this end is Closing already;
    // else the queues stop (blk_mark_disk_dead) and xenbus_frontend_closed
    // writes Closed. info->connected is left as it is, as in 6.1.
    void blkfront_closing() {
        if (state_ == xen::XenbusState::closing) {
            return;
        }
        switch_state(xen::XenbusState::closed);
    }

    // __xenbus_switch_state: nothing for the state this end is in; no
    // write once the node is gone (the device is being removed), but
    // dev->state follows all the same.
    void switch_state(xen::XenbusState state) {
        if (state == state_) {
            return;
        }
        if (xenstore::client::xenbus_switch_state(client_, paths_.frontend, state)) {
            written_.push_back(state);
        }
        state_ = state;
    }

    // xenbus_scanf "%llu": nullopt when the node is missing or not a number.
    std::optional<std::uint64_t> read_number(const std::string& path) {
        const auto text = client_.try_read(path);
        std::uint64_t value = 0;
        if (!text ||
            std::from_chars(text->data(), text->data() + text->size(), value).ec != std::errc()) {
            return std::nullopt;
        }
        return value;
    }

    hypervisor::Hypervisor& hv_;
    const tools::toolstack::VbdPaths paths_;
    std::mutex mutex_;
    std::condition_variable changed_;
    xen::XenbusState state_ = xen::XenbusState::initialising;  // dev->state
    bool connected_ = false;                                   // info->connected
    std::vector<xen::XenbusState> written_;
    std::vector<xen::XenbusState> seen_;
    Disk disk_;
    unsigned capacity_updates_ = 0;
    std::vector<std::string> errors_;
    std::unique_ptr<TestFrontend> front_;
    xenstore::client::Client client_;
    xenstore::client::Watch watch_;
};

}  // namespace pvsim::test
