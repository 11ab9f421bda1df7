#include "frontend/blkfront/xenbus_frontend.hpp"

#include <cerrno>
#include <charconv>
#include <future>
#include <limits>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "frontend/blkfront/disk_info.hpp"
#include "xenstore/client/xenbus_client.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::frontend::blkfront {
namespace {

using xen::XenbusState;
using xenstore::client::Error;

}  // namespace

XenbusFrontend::XenbusFrontend(hypervisor::Hypervisor& hypervisor,
                               xenstore::client::Client& xenstore,
                               boost::asio::any_io_executor executor, std::string nodename,
                               BlkfrontOptions options)
    : hypervisor_(hypervisor),
      xenstore_(xenstore),
      nodename_(std::move(nodename)),
      options_(std::move(options)),
      strand_(boost::asio::make_strand(std::move(executor))),
      drain_timer_(strand_) {
    if (!xenstore::client::split_domain_path(nodename_)) {
        throw std::invalid_argument("blkfront: '" + nodename_ +
                                    "' is not a device directory under /local/domain/<domid>");
    }
    // blkfront_probe: the handle is the device directory's last component,
    // the virtual device number.
    const std::string_view devid = std::string_view(nodename_).substr(nodename_.rfind('/') + 1);
    unsigned long vdev = 0;
    const auto [end, ec] = std::from_chars(devid.data(), devid.data() + devid.size(), vdev);
    if (ec != std::errc() || end != devid.data() + devid.size()) {
        throw std::invalid_argument("blkfront: '" + nodename_ +
                                    "' does not end in a virtual device number");
    }
    handle_ = static_cast<xen::BlkifVdev>(vdev);

    // xenbus_read_otherend_details.
    try {
        const auto backend = try_read(nodename_ + "/backend");
        const auto backend_id = try_read(nodename_ + "/backend-id");
        if (!backend || !backend_id || backend->empty()) {
            throw std::invalid_argument("missing backend or backend-id");
        }
        backend_path_ = *backend;
        backend_id_ = static_cast<xen::DomId>(
            parse_node_number("backend-id", *backend_id, xen::kDomidFirstReserved - 1));
    } catch (const std::exception& e) {
        const std::string message = "reading other end details from " + nodename_ + ": " + e.what();
        fatal(ENOENT, message);
        throw BlkfrontError("blkfront " + nodename_ + ": " + message);
    }
    // Our own configuration, once, at set-up.
    try {
        features_ =
            xen::read_blkif_feature_config(xen::BlkifEnd::frontend, [this](std::string_view node) {
                return try_read(nodename_ + "/" + std::string(node));
            });
        protocol_ = read_guest_protocol();
    } catch (const std::exception& e) {
        const std::string message = std::string("reading configuration: ") + e.what();
        fatal(EINVAL, message);
        throw BlkfrontError("blkfront " + nodename_ + ": " + message);
    }

    // From here on every handler runs on the strand.
    started_ = true;
    try {
        own_watch_ =
            xenstore::client::XenbusWatch(xenstore_, strand_, nodename_, "blkfront:" + nodename_,
                                          [this](const std::string&) { own_directory_changed(); });
        backend_watch_ = xenstore::client::XenbusWatch(
            xenstore_, strand_, backend_path_ + "/state", "blkfront-otherend:" + nodename_,
            [this](const std::string&) { backend_changed(); });
    } catch (...) {
        // No handler of a stopped watch runs: nothing of ours is left.
        own_watch_.stop();
        throw;
    }
    spdlog::info("blkfront {}: backend {} (domain {})", nodename_, backend_path_, backend_id_);
}

// The guest's ABI, which Linux's blkfront has compiled in
// (XEN_IO_PROTO_ABI_NATIVE): pvsim's guest takes it from the "protocol"
// node the toolstack writes for a PV guest (libxl__device_disk_add, from
// xc_domain_get_native_protocol), so that
// one guest process can be a 64-bit or a 32-bit guest. Missing: native.
xen::BlkifProtocol XenbusFrontend::read_guest_protocol() {
    const std::optional<std::string> text = try_read(nodename_ + "/protocol");
    if (!text) {
        return xen::BlkifProtocol::x86_64;
    }
    const std::optional<xen::BlkifProtocol> protocol = xen::parse_blkif_protocol(*text);
    if (!protocol) {
        throw std::invalid_argument("protocol '" + *text + "' is neither " +
                                    std::string(xen::kXenIoProtoAbiNative) + " nor " +
                                    std::string(xen::kXenIoProtoAbiX86_32));
    }
    return *protocol;
}

XenbusFrontend::~XenbusFrontend() {
    try {
        close();
    } catch (const std::exception& e) {
        spdlog::error("blkfront {}: closing: {}", nodename_, e.what());
    }
    {
        // blkfront_remove -> blkif_free: a detach left the rings granted
        // until the backend lets go of them; give it close_timeout to.
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, options_.close_timeout, [this] { return !rings_held_; })) {
            spdlog::warn(
                "blkfront {}: backend {} still holds the rings after {} ms (backend {}); their "
                "grants end once it unmaps them",
                nodename_, backend_path_, options_.close_timeout.count(),
                state_text(backend_state_));
        }
    }
    backend_watch_.stop();
    own_watch_.stop();
    // What the strand owns is taken off it; handlers already posted (a
    // data plane's failure report, the drain timer's cancellation) run
    // before, or after with nothing left to act on.
    std::unique_ptr<QueueSet> device;
    std::vector<Ring> rings;
    run_on_control_strand([&] {
        drain_timer_.cancel();
        after_drain_ = nullptr;
        std::lock_guard lock(mutex_);
        device = std::move(device_);
        rings = std::move(rings_);
    });
    // The data planes (and their completion threads, the last to post to
    // the strand) before the ring pages they read.
    device.reset();
    rings.clear();
    // Whatever they posted has run once this has: nothing of ours is left
    // on the executor.
    run_on_control_strand([] {});
}

std::string XenbusFrontend::state_text(XenbusState state) {
    return std::string(xen::name(state)) + " (" +
           std::to_string(static_cast<std::uint32_t>(state)) + ")";
}

XenbusState XenbusFrontend::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

XenbusState XenbusFrontend::backend_state() const {
    std::lock_guard lock(mutex_);
    return backend_state_;
}

QueueSet* XenbusFrontend::device() {
    std::lock_guard lock(mutex_);
    return device_.get();
}

QueueSet& XenbusFrontend::wait_connected() {
    std::unique_lock lock(mutex_);
    const bool settled = changed_.wait_for(lock, options_.connect_timeout, [this] {
        return state_ == XenbusState::connected || failure_.has_value() ||
               state_ == XenbusState::closing || state_ == XenbusState::closed;
    });
    if (state_ == XenbusState::connected && device_ && !failure_) {
        return *device_;
    }
    std::string why;
    if (failure_) {
        why = *failure_;
    } else if (!settled) {
        why = "backend " + backend_path_ + " did not connect within " +
              std::to_string(options_.connect_timeout.count()) + " ms (backend " +
              state_text(backend_state_) + ", frontend " + state_text(state_) + ")";
    } else {
        why = "closed before connecting (frontend " + state_text(state_) + ")";
    }
    throw BlkfrontError("blkfront " + nodename_ + ": " + why);
}

void XenbusFrontend::close() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == XenbusState::closed) {
            return;
        }
    }
    boost::asio::post(strand_, [this] {
        begin_close("device closed");
        if (backend_state_ == XenbusState::closed) {
            finish_close("device closed");
        }
    });
    std::unique_lock lock(mutex_);
    if (changed_.wait_for(lock, options_.close_timeout,
                          [this] { return state_ == XenbusState::closed; })) {
        return;
    }
    spdlog::warn("blkfront {}: backend {} did not close within {} ms (backend {}); closing anyway",
                 nodename_, backend_path_, options_.close_timeout.count(),
                 state_text(backend_state_));
    lock.unlock();
    run_on_control_strand([this] {
        finish_close("device closed");
        // The backend has had its close_timeout already: the device goes
        // now (blkfront_remove -> blkif_free) rather than waiting for it a
        // second time in the destructor; a ring grant it still maps waits
        // on the deferred list.
        drop_rings();
    });
}

bool XenbusFrontend::reconnecting() const {
    std::lock_guard lock(mutex_);
    return reconnecting_;
}

XenbusFrontend::Negotiated XenbusFrontend::negotiated() const {
    std::lock_guard lock(mutex_);
    return negotiated_;
}

std::uint64_t XenbusFrontend::recoveries() const {
    std::lock_guard lock(mutex_);
    return recoveries_;
}

void XenbusFrontend::drop_rings() {
    for (Ring& ring : rings_) {
        ring.channel.close();
    }
    rings_.clear();
    {
        std::lock_guard lock(mutex_);
        rings_held_ = false;
    }
    changed_.notify_all();
}

void XenbusFrontend::run_on_control_strand(std::function<void()> handler) {
    std::packaged_task<void()> task(std::move(handler));
    std::future<void> done = task.get_future();
    boost::asio::post(strand_, [&task] { task(); });
    done.get();
}

std::optional<std::string> XenbusFrontend::try_read(const std::string& path) {
    return xenstore_.try_read(path);
}

// ---------------------------------------------------------------------------
// Control strand

void XenbusFrontend::backend_changed() {
    // xenbus_read_driver_state: a missing or unreadable node is Unknown.
    XenbusState state = XenbusState::unknown;
    try {
        if (const auto text = try_read(backend_path_ + "/state")) {
            state = xen::xenbus_state_from_node(*text).value_or(XenbusState::unknown);
        }
    } catch (const Error& e) {
        spdlog::warn("blkfront {}: reading backend state: {}", nodename_, e.what());
    }
    {
        std::lock_guard lock(mutex_);
        if (state != backend_state_) {
            spdlog::info("blkfront {}: backend {} is {}", nodename_, backend_path_,
                         state_text(state));
        }
        backend_state_ = state;
    }
    changed_.notify_all();

    if (state_ == XenbusState::closed && !reconnecting_ &&
        (state == XenbusState::closed || state == XenbusState::unknown ||
         state == XenbusState::initialising || state == XenbusState::init_wait)) {
        // After a detach the backend lets go of the rings before its Closed
        // (xen_blkif_disconnect): they go now, their grants ended with none
        // of them mapped. A grant whose end was deferred while it was pinned
        // can end now too (Linux retries its deferred list from a timer,
        // gnttab_handle_deferred). The toolstack may remove the backend's
        // directory, and the next attach write a new one, before this
        // handler reads the node: a watch fires for each change, but the
        // handler reads what is there now. A backend seen gone (Unknown),
        // Initialising or InitWait is past that Closed too; waiting on for
        // a Closed that came and went held the next attach of the same vdev
        // for close_timeout (5 s in one of 1000 cycles).
        drop_rings();
        hypervisor_.grant_table().reclaim_deferred();
    }

    // blkback_changed (Linux xen-blkfront.c, 4.x to 6.x).
    switch (state) {
        case XenbusState::init_wait:
            // "if (dev->state != XenbusStateInitialising) break;": a backend
            // that restarted under a Connected frontend goes InitWait ->
            // Connected on the live rings (xen_blkif_map's
            // BACK_RING_ATTACH); there is nothing for us to do.
            if (state_ == XenbusState::initialising) {
                talk_to_backend();
            }
            break;
        case XenbusState::initialising:
            break;  // blkback_changed ignores it
        case XenbusState::connected:
            if (state_ != XenbusState::initialised && state_ != XenbusState::connected) {
                if (state_ != XenbusState::initialising) {
                    break;  // closing: the backend will follow
                }
                talk_to_backend();
                if (state_ != XenbusState::initialised) {
                    break;
                }
            }
            connect();
            break;
        case XenbusState::closing:
            if (reconnecting_) {
                // Mirroring our Closing: once what is on the rings is
                // answered, Closed (the backend then lets go of them).
                if (state_ == XenbusState::closing && !after_drain_) {
                    after_rings_idle([this] {
                        if (reconnecting_ && state_ == XenbusState::closing) {
                            switch_state(XenbusState::closed);
                        }
                    });
                }
                break;
            }
            // A detach, or the backend mirroring our own Closing: either way
            // Linux's blkfront_closing goes on to Closed.
            close_for_backend("backend " + backend_path_ + " is closing");
            break;
        case XenbusState::closed:
            if (reconnecting_ &&
                (state_ == XenbusState::closing || state_ == XenbusState::closed)) {
                // The backend has let go of the rings: set up anew.
                take_back_rings("reconnecting");
                switch_state(XenbusState::initialising);
                break;
            }
            if (state_ == XenbusState::closed) {
                break;  // the rings went above
            }
            if (state_ == XenbusState::closing) {
                // The answer to our own Closing.
                finish_close("backend " + backend_path_ + " closed");
                break;
            }
            // "case XenbusStateClosed: ... fallthrough; case
            // XenbusStateClosing: blkfront_closing": a Closed without a
            // Closing first closes us as a Closing does, straight to Closed.
            close_for_backend("backend " + backend_path_ + " closed");
            break;
        default:
            break;
    }
}

void XenbusFrontend::own_directory_changed() {
    bool present = true;
    try {
        present = try_read(nodename_ + "/state").has_value();
    } catch (const Error& e) {
        spdlog::warn("blkfront {}: reading own state: {}", nodename_, e.what());
    }
    if (!present) {
        bool closed = false;
        {
            std::lock_guard lock(mutex_);
            closed = state_ == XenbusState::closed;
        }
        if (closed) {
            // The toolstack's clean-up after a detach: the device goes
            // (blkfront_remove -> blkif_free) with its rings.
            drop_rings();
            return;
        }
        // The toolstack took the device away without a detach: it is gone
        // (Linux unregisters the device). Nothing is written: that would
        // bring the directory back.
        spdlog::warn("blkfront {}: device directory removed", nodename_);
        const std::string reason = nodename_ + " was removed";
        if (const std::size_t unanswered = device_ ? device_->on_ring() : 0; unanswered != 0) {
            // blkfront_remove -> blkif_free: what the backend never answered
            // goes with the ring.
            spdlog::warn(
                "blkfront {}: {} request(s) the backend {} (dom{}) never answered fail "
                "with ENODEV",
                nodename_, unanswered, backend_path_, backend_id_);
        }
        if (device_) {
            device_->disconnect(reason);
        }
        drop_rings();
        {
            std::lock_guard lock(mutex_);
            failure_ = failure_.value_or(reason);
            reconnecting_ = false;
        }
        set_state(XenbusState::closed);
        return;
    }
    if (device_) {
        device_->set_poll(read_poll());
    }
}

std::chrono::microseconds XenbusFrontend::read_poll() {
    try {
        if (const auto text = try_read(nodename_ + "/poll-us")) {
            return std::chrono::microseconds(
                parse_node_number("poll-us", *text, std::numeric_limits<std::uint32_t>::max()));
        }
    } catch (const std::exception& e) {
        spdlog::warn("blkfront {}: {}; polling for {} us", nodename_, e.what(),
                     kDefaultPoll.count());
    }
    return kDefaultPoll;
}

void XenbusFrontend::connect() {
    if (device_ && device_->attached()) {
        // Connected again: a resize (blkfront_connect for a connected
        // device). A value that cannot be read is ignored there, as Linux
        // does: the device keeps working at its old size.
        try {
            if (const auto text = try_read(backend_path_ + "/sectors")) {
                const std::uint64_t sectors =
                    parse_node_number("sectors", *text, std::numeric_limits<std::uint64_t>::max());
                if (sectors != device_->capacity_sectors()) {
                    spdlog::info("blkfront {}: new size {} sectors", nodename_, sectors);
                    device_->set_capacity(sectors);
                }
            }
        } catch (const std::exception& e) {
            spdlog::warn("blkfront {}: resize: {}", nodename_, e.what());
        }
        return;
    }
    // blkfront_connect.
    DiskInfo disk;
    try {
        disk = read_disk_info([this](std::string_view key) {
            return try_read(backend_path_ + "/" + std::string(key));
        });
    } catch (const Error& e) {
        fatal(e.errnum(), "reading backend fields at " + backend_path_ + ": " + e.what());
        return;
    } catch (const std::invalid_argument& e) {
        fatal(EINVAL, "reading backend fields at " + backend_path_ + ": " + e.what());
        return;
    }
    if (rings_.empty()) {
        fatal(EINVAL, "backend connected before our ring keys were written");
        return;
    }
    // blkfront_gather_backend_features.
    disk = negotiate_features(std::move(disk), features_);
    std::vector<std::unique_ptr<BlkfrontQueue>> queues;
    try {
        const std::chrono::microseconds poll = read_poll();
        for (std::size_t q = 0; q < rings_.size(); ++q) {
            DataPlaneConfig config;
            config.name =
                rings_.size() == 1 ? nodename_ : nodename_ + "/queue-" + std::to_string(q);
            config.backend_id = backend_id_;
            config.handle = handle_;
            config.disk = disk;
            config.poll = poll;
            config.protocol = protocol_;
            config.trusted = trusted_;
            queues.push_back(std::make_unique<BlkfrontQueue>(
                hypervisor_, rings_[q].pages->area(), rings_[q].pages->size_bytes(),
                std::move(rings_[q].channel), std::move(config), [this](const std::string& reason) {
                    boost::asio::post(strand_, [this, reason] { device_failed(reason); });
                }));
        }
        if (!device_) {
            auto device = std::make_unique<QueueSet>();
            std::lock_guard lock(mutex_);
            device_ = std::move(device);
        }
        {
            std::lock_guard lock(mutex_);
            negotiated_.indirect_segments = disk.max_indirect_segments;
            negotiated_.persistent = disk.feature_persistent;
            negotiated_.discard = disk.feature_discard;
            negotiated_.discard_granularity = disk.discard_granularity;
            negotiated_.discard_alignment = disk.discard_alignment;
            negotiated_.secure_discard = disk.feature_secdiscard;
            negotiated_.flush_cache = disk.feature_flush_cache;
            negotiated_.barrier = disk.feature_barrier;
            negotiated_.bounce = !trusted_ || disk.feature_persistent;
        }
        // blkif_recover's second half: what was held goes on the new rings.
        device_->attach(std::move(queues));
    } catch (const std::exception& e) {
        fatal(EIO, std::string("starting the data plane: ") + e.what());
        return;
    }
    spdlog::info(
        "blkfront {}: {} sectors of {} bytes{}, flush {}, {} queue(s), persistent {}, indirect {}, "
        "discard {}, bounce {}",
        nodename_, disk.sectors, disk.sector_size, disk.read_only() ? ", read-only" : "",
        disk.flush_operation() ? xen::name(*disk.flush_operation()) : "none", rings_.size(),
        disk.feature_persistent, disk.max_indirect_segments, disk.feature_discard,
        !trusted_ || disk.feature_persistent);
    {
        std::lock_guard lock(mutex_);
        reconnecting_ = false;
    }
    switch_state(XenbusState::connected);
}

void XenbusFrontend::begin_close(const std::string& reason) {
    if (state_ == XenbusState::closing || state_ == XenbusState::closed) {
        return;
    }
    stop_requests(reason);
    switch_state(XenbusState::closing);
}

void XenbusFrontend::close_for_backend(const std::string& reason) {
    if (state_ == XenbusState::closed || closing_for_backend_) {
        return;
    }
    // blkfront_closing: the backend wants the device gone (a detach). Linux
    // stops the queues and goes straight to Closed (xenbus_frontend_closed);
    // the backend then finishes its in-flight I/O and lets go of the ring.
    // Requests already on the ring get up to close_timeout to complete
    // first, so that none the backend answers is lost to the guest; the
    // ring grant, still mapped by the backend, is ended when it unmaps.
    stop_requests(reason);
    closing_for_backend_ = true;
    after_rings_idle([this, reason] {
        closing_for_backend_ = false;
        finish_close(reason);
        if (backend_state_ == XenbusState::closed) {
            // Its Closed came while the rings drained: it has unmapped them.
            hypervisor_.grant_table().reclaim_deferred();
        }
    });
}

void XenbusFrontend::after_rings_idle(std::function<void()> then) {
    const std::uint64_t generation = ++drain_generation_;
    after_drain_ = std::move(then);
    if (!device_) {
        rings_idle(generation);
        return;
    }
    drain_timer_.expires_after(options_.close_timeout);
    drain_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
        if (!ec) {
            rings_idle(generation);
        }
    });
    // From whichever thread frees the last ring, under its queue lock: it
    // only posts.
    device_->when_idle([this, generation] {
        boost::asio::post(strand_, [this, generation] { rings_idle(generation); });
    });
}

void XenbusFrontend::rings_idle(std::uint64_t generation) {
    if (generation != drain_generation_ || !after_drain_) {
        return;  // an earlier drain's, or one already over
    }
    drain_timer_.cancel();
    std::function<void()> then = std::exchange(after_drain_, nullptr);
    then();
}

void XenbusFrontend::stop_requests(const std::string& reason) {
    if (device_) {
        device_->stop_accepting(reason);
    }
    if (state_ != XenbusState::connected) {
        // Never connected: whoever waits for it learns why.
        std::string why = reason;
        if (const auto text = backend_error()) {
            why += ": " + *text;
        }
        std::lock_guard lock(mutex_);
        failure_ = failure_.value_or(why);
    }
}

void XenbusFrontend::finish_close(const std::string& reason) {
    if (state_ == XenbusState::closed) {
        return;
    }
    if (device_) {
        device_->disconnect(reason);
    }
    // blkif_free is blkfront_remove's (Linux 5.x to 6.x), not
    // blkfront_closing's: the rings stay granted until the backend has let
    // go of them (its Closed) or the device goes, so that no ring grant is
    // ended while the backend still maps it.
    if (backend_state_ == XenbusState::closed || backend_state_ == XenbusState::unknown) {
        drop_rings();
    } else if (!rings_.empty()) {
        std::lock_guard lock(mutex_);
        rings_held_ = true;
    }
    switch_state(XenbusState::closed);
}

void XenbusFrontend::device_failed(const std::string& reason) {
    // blkif_interrupt's "err:" (Linux 5.16 to 6.x, hardened by XSA-396):
    // info->connected = BLKIF_STATE_ERROR and "disabled for further use".
    // xenstore is left alone: no error node, no Closing; the device closes
    // when the toolstack detaches it. Unlike Linux, whose requests then
    // wait for ever, pvsim's fail with -ENODEV so a job ends.
    // Linux's pr_alert names the disk; pvsim's line names the backend
    // (the offender) too.
    spdlog::error("blkfront {}: backend {} (dom{}): {}; disabled for further use", nodename_,
                  backend_path_, backend_id_, reason);
    {
        std::lock_guard lock(mutex_);
        failure_ = failure_.value_or(reason);
    }
    changed_.notify_all();
    if (device_ && !device_->failed()) {
        device_->fail(reason);
    }
}

void XenbusFrontend::fatal(int errnum, const std::string& message) {
    xenstore::client::xenbus_dev_error(xenstore_, nodename_, errnum, message);
    {
        std::lock_guard lock(mutex_);
        failure_ = failure_.value_or(message);
    }
    changed_.notify_all();
    if (device_ && !device_->failed()) {
        device_->fail(message);
    }
    if (!started_) {
        // Still in the constructor, which reports by throwing; there is no
        // backend to tell, but the toolstack sees Closing.
        switch_state(XenbusState::closing);
        return;
    }
    // xenbus_dev_fatal then switches to Closing.
    const bool nested = std::exchange(in_fatal_, true);
    if (!nested) {
        begin_close(message);
    }
    in_fatal_ = nested;
}

void XenbusFrontend::switch_state(XenbusState state) {
    // __xenbus_switch_state: only a change is written, in a transaction
    // that checks the node is still there.
    if (state == state_) {
        return;
    }
    try {
        if (!xenstore::client::xenbus_switch_state(xenstore_, nodename_, state)) {
            spdlog::warn("blkfront {}: device directory gone; {} not written", nodename_,
                         state_text(state));
        }
    } catch (const Error& e) {
        // xenbus_switch_fatal: reported, and Closing tried once.
        if (!in_fatal_) {
            in_fatal_ = true;
            fatal(e.errnum(), "writing new state " + state_text(state) + ": " + e.what());
            in_fatal_ = false;
        } else {
            spdlog::error("blkfront {}: writing new state {}: {}", nodename_, state_text(state),
                          e.what());
        }
    }
    set_state(state);
}

void XenbusFrontend::set_state(XenbusState state) {
    spdlog::info("blkfront {}: {} -> {}", nodename_, state_text(state_), state_text(state));
    // The observer hears of it before anyone waiting on state() does.
    if (options_.on_state) {
        options_.on_state(state);
    }
    {
        std::lock_guard lock(mutex_);
        state_ = state;
    }
    changed_.notify_all();
}

std::optional<std::string> XenbusFrontend::backend_error() {
    std::vector<std::string> paths = {backend_path_ + "/error"};
    if (auto node = xenstore::client::error_node(backend_path_)) {
        paths.push_back(std::move(*node));
    }
    for (const std::string& path : paths) {
        try {
            if (auto text = try_read(path)) {
                return text;
            }
        } catch (const Error&) {
            // Not ours to read: try the next place.
        }
    }
    return std::nullopt;
}

}  // namespace pvsim::frontend::blkfront
