#include "backend/blkback/xenbus_backend.hpp"

#include <cerrno>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "backend/blkback/backend_nodes.hpp"
#include "backend/blkback/device_node.hpp"
#include "backend/blkback/frontend_ring_keys.hpp"
#include "backend/blkback/ring_connection.hpp"
#include "backend/blkback/vbd_resize.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/node_values.hpp"

namespace pvsim::backend::blkback {

using xen::in_quotes;
using xen::NodeError;
using xen::parse_node_unsigned;
namespace {

using xen::XenbusState;

std::string state_number(XenbusState state) {
    return std::to_string(static_cast<std::uint32_t>(state));
}

}  // namespace

std::shared_ptr<XenbusBackend> XenbusBackend::probe(boost::asio::any_io_executor executor,
                                                    hypervisor::Hypervisor& hypervisor,
                                                    xenstore::client::Client& client,
                                                    const std::string& nodename, DeviceKind kind,
                                                    const BlkbackOptions& options) {
    std::optional<OtherEnd> frontend;
    try {
        frontend = read_frontend(client, nodename);
    } catch (const NodeError& e) {
        // Linux's xenbus core refuses such a device before any driver sees
        // it ("failed to read otherend details"); pvsim says so where the
        // toolstack looks, once, and keeps the device so it is not probed
        // again.
        std::shared_ptr<XenbusBackend> failed(new XenbusBackend(
            std::move(executor), hypervisor, client, nodename, OtherEnd{}, kind, options));
        failed->device_.dev_fatal(e.errnum(), e.what());
        return failed;
    }
    if (!frontend) {
        return nullptr;
    }
    std::shared_ptr<XenbusBackend> backend(new XenbusBackend(
        std::move(executor), hypervisor, client, nodename, *frontend, kind, options));
    backend->start();
    return backend;
}

XenbusBackend::XenbusBackend(boost::asio::any_io_executor executor,
                             hypervisor::Hypervisor& hypervisor, xenstore::client::Client& client,
                             const std::string& nodename, const OtherEnd& frontend, DeviceKind kind,
                             const BlkbackOptions& options)
    : executor_(std::move(executor)),
      hypervisor_(hypervisor),
      device_(client, nodename, frontend.path, frontend.domid),
      kind_(kind),
      options_(options),
      resize_timer_(executor_) {}

XenbusBackend::~XenbusBackend() {
    frontend_watch_.stop();
    backend_watch_.stop();
    disconnect();
}

void XenbusBackend::start() {
    xenstore::client::Client& client = device_.client();
    // A vbd opens its device when physical-device comes; a qdisk opens
    // params now (QEMU's xen-block realizes its drive before InitWait).
    const bool usable = read_config() && (kind_ == DeviceKind::vbd || open_store(config_->params));
    if (usable) {
        // xen_blkbk_probe publishes its limits before InitWait.
        const bool published = client.transact([&](xenstore::client::Transaction& t) {
            if (!t.try_read(device_.node("state"))) {
                return false;
            }
            const xen::BlkifFeatureConfig& features = config_->features;
            const bool copy = features.grant_mode == xen::BlkifGrantMode::copy;
            t.write(device_.node("feature-max-indirect-segments"),
                    std::to_string(features.max_indirect_segments));
            t.write(device_.node("multi-queue-max-queues"), std::to_string(features.max_queues));
            t.write(device_.node("max-ring-page-order"),
                    std::to_string(features.max_ring_page_order));
            // Nothing is mapped in copy mode, so nothing can persist.
            t.write(device_.node("feature-persistent"), features.persistent && !copy ? "1" : "0");
            return true;
        });
        if (!published) {
            return;  // removed meanwhile
        }
        // A restarted backend: a frontend already Connected keeps its rings,
        // which connect_ring attaches live (xen_blkif_map's
        // BACK_RING_ATTACH) once the otherend watch fires.
        if (device_.read_otherend_state() == XenbusState::connected) {
            spdlog::info("{}: frontend {} is Connected; attaching its live rings",
                         device_.nodename(), device_.otherend());
        }
    }
    // The otherend watch (Linux's watch_otherend): fires once now, and at
    // every change of the frontend's state. A vbd whose store did not open
    // keeps it too, as Linux keeps it after backend_changed fails: the
    // frontend's Closed then takes it to Closed, so a detach completes.
    std::weak_ptr<XenbusBackend> weak = weak_from_this();
    frontend_watch_ =
        xenstore::client::XenbusWatch(client, executor_, device_.other("state"),
                                      "blkback:" + device_.nodename(), [weak](const std::string&) {
                                          if (const auto self = weak.lock()) {
                                              self->frontend_changed();
                                          }
                                      });
    if (!usable) {
        return;
    }
    if (kind_ == DeviceKind::vbd) {
        // xen_blkbk_probe: the watch on physical-device, which fires once
        // now (nothing there yet: "wait for the hotplug scripts") and at
        // every write of it (backend_changed).
        backend_watch_ = xenstore::client::XenbusWatch(
            client, executor_, device_.node("physical-device"),
            "blkback-physical-device:" + device_.nodename(), [weak](const std::string&) {
                if (const auto self = weak.lock()) {
                    self->physical_device_changed();
                }
            });
    }
    device_.switch_state(XenbusState::init_wait);
}

void XenbusBackend::physical_device_changed() {
    if (!backend_watch_) {
        return;  // released
    }
    const std::optional<std::string> text =
        device_.client().try_read(device_.node("physical-device"));
    if (!text) {
        return;  // "Ignore it, and wait for the hotplug scripts."
    }
    const std::optional<xen::PhysicalDevice> device = xen::parse_physical_device(*text);
    if (!device) {
        device_.dev_fatal(EINVAL, "reading physical-device " + in_quotes(*text));
        return;
    }
    if (physical_device_) {
        if (*physical_device_ != *device) {
            spdlog::warn("{}: changing physical device (from {} to {}) not supported.",
                         device_.nodename(), xen::to_node(*physical_device_),
                         xen::to_node(*device));
        }
        return;
    }
    std::filesystem::path path;
    try {
        path = device_node_of(*device);
    } catch (const std::exception& e) {
        // xen_vbd_create: "device %08x could not be opened", -ENOENT.
        device_.dev_fatal(ENOENT, std::string("creating vbd structure: ") + e.what());
        return;
    }
    if (!open_store(path)) {
        return;
    }
    physical_device_ = *device;
    // xen_update_blkif_status: connect now if the frontend was ready first.
    const std::optional<XenbusState> frontend = device_.read_otherend_state();
    if ((frontend == XenbusState::initialised || frontend == XenbusState::connected) &&
        device_.state() != XenbusState::connected) {
        connect_ring();
    }
}

bool XenbusBackend::read_config() {
    try {
        config_ = read_vbd_config(device_.client(), device_.nodename(), device_.otherend(), kind_);
        return true;
    } catch (const NodeError& e) {
        device_.dev_fatal(e.errnum(), e.what());
        return false;
    }
}

bool XenbusBackend::open_store(const std::filesystem::path& path) {
    try {
        storage::OpenOptions open_options;
        open_options.access =
            config_->read_only ? storage::Access::read_only : storage::Access::read_write;
        open_options.direct = config_->direct;
        store_ = storage::BackingStore::open(path, open_options);
    } catch (const std::system_error& e) {
        device_.dev_fatal(e.code().value(), "opening " + path.string() + ": " + e.what());
        return false;
    } catch (const std::exception& e) {
        device_.dev_fatal(EINVAL, "opening " + path.string() + ": " + e.what());
        return false;
    }
    const xen::BlkifFeatureConfig& f = config_->features;
    spdlog::info(
        "{}: dom{} {} -> {} ({}{}{}, {} sectors, poll-us {}; persistent {}, indirect {}, "
        "ring order {}, queues {}, discard {}, flush {}, barrier {}, grant mode {})",
        device_.nodename(), device_.otherend_id(), device_.otherend(), path.string(),
        store_->is_block_device() ? "block device" : "image file",
        config_->read_only ? ", read-only" : "", config_->direct ? ", O_DIRECT" : "",
        store_->sectors(), config_->poll_us.count(), f.persistent, f.max_indirect_segments,
        f.max_ring_page_order, f.max_queues, f.discard, f.flush_cache, f.barrier,
        xen::to_string(f.grant_mode));
    return true;
}

void XenbusBackend::frontend_changed() {
    if (!frontend_watch_) {
        return;  // never started, or released
    }
    std::string raw;
    const std::optional<XenbusState> seen = device_.read_otherend_state(&raw);
    if (!seen && !raw.empty()) {
        device_.dev_fatal(EINVAL, "saw state " + in_quotes(raw) + " at frontend");
        return;
    }
    const XenbusState frontend = seen.value_or(XenbusState::unknown);
    spdlog::debug("{}: frontend {} is {}", device_.nodename(), device_.otherend(),
                  xen::name(frontend));
    switch (frontend) {
        case XenbusState::initialising:
            if (device_.state() == XenbusState::closed && store_) {
                spdlog::info("{}: prepare for reconnect", device_.nodename());
                device_.switch_state(XenbusState::init_wait);
            }
            break;
        case XenbusState::initialised:
        case XenbusState::connected:
            // "Ensure we connect even when two watches fire in close
            // succession and we miss the intermediate value of
            // frontend_state."
            if (device_.state() == XenbusState::connected || !store_) {
                break;
            }
            connect_ring();
            break;
        case XenbusState::closing:
            // frontend_changed: mirror Closing and wait for the frontend's
            // Closed, which comes once it has let go of the ring
            // (blkfront_closing); the disconnect happens then.
            device_.switch_state(XenbusState::closing);
            break;
        case XenbusState::closed:
            disconnect();
            device_.switch_state(XenbusState::closed);
            if (device_.is_online()) {
                break;
            }
            release();
            break;
        case XenbusState::unknown:
            // The frontend is gone: device_unregister -> xenbus_dev_remove
            // (Linux 5.6+, blkback has allow_rebind): the watch goes, the
            // rings and the store are released, and Closed is written only
            // when the toolstack has forced the state to Closing, which
            // libxl's forced detach waits for.
            release();
            close_if_forced();
            break;
        default:
            device_.dev_fatal(EINVAL, "saw state " + state_number(frontend) + " at frontend");
            break;
    }
}

void XenbusBackend::connect_ring() {
    // "Enforce precondition before potential leak point.
    // xen_blkif_disconnect() is idempotent."
    disconnect();
    xenstore::client::Client& client = device_.client();
    const xen::BlkifFeatureConfig& features = config_->features;
    const bool copy = features.grant_mode == xen::BlkifGrantMode::copy;
    FrontendRing keys;
    std::vector<RingConnection> connections;
    try {
        keys = read_frontend_ring(client, device_.otherend(),
                                  RingOffer{features.max_ring_page_order, features.max_queues});
        for (const FrontendQueue& queue : keys.queues) {
            connections.push_back(RingConnection::connect(hypervisor_, device_.otherend_id(),
                                                          queue.ring_refs, queue.event_channel,
                                                          keys.abi));
        }
    } catch (const NodeError& e) {
        device_.dev_fatal(e.errnum(), e.what());
        return;
    } catch (const RingConnectError& e) {
        device_.dev_fatal(e.errnum(), e.what());
        return;
    }
    // Linux: blkif->vbd.feature_gnt_persistent = feature_persistent (ours)
    // && the frontend's feature-persistent.
    persistent_ = features.persistent && !copy && keys.persistent;

    // vbd_sz is the device's live size: the target may have changed since
    // it was opened.
    try {
        (void)store_->refresh_size();
    } catch (const std::system_error& e) {
        spdlog::warn("{}: {}; publishing the size read before", device_.nodename(), e.what());
    }
    VbdLimits limits;
    limits.sectors = store_->sectors();
    limits.logical_sector_size = store_->logical_sector_size();
    limits.read_only = config_->read_only;
    limits.flush = features.flush_cache && store_->write_cache();
    limits.barrier = features.barrier && store_->write_cache();
    limits.discard = features.discard && config_->discard_enable && store_->discard_supported();
    limits.max_indirect_segments = features.max_indirect_segments;
    DataPlaneOptions plane_options;
    plane_options.poll_max = config_->poll_us;
    plane_options.engine = options_.engine;
    plane_options.persistent = persistent_;
    plane_options.grant_mode = features.grant_mode;
    plane_options.journal_run_tag = options_.journal_run_tag;
    const std::uint64_t generation = ++generation_;
    std::weak_ptr<XenbusBackend> weak = weak_from_this();
    plane_options.on_flush_refused = [weak, generation, executor = executor_](IoKind kind) {
        boost::asio::post(executor, [weak, generation, kind] {
            if (const auto self = weak.lock()) {
                self->flush_refused(generation, kind);
            }
        });
    };
    auto on_ring_error = [weak, generation, executor = executor_](const std::string& reason) {
        boost::asio::post(executor, [weak, generation, reason] {
            if (const auto self = weak.lock()) {
                self->ring_failed(generation, reason);
            }
        });
    };
    try {
        for (std::size_t k = 0; k < connections.size(); ++k) {
            // Every line a ring logs names the frontend's domain, as
            // Linux names the ring's thread blkback.<domid>.<dev>
            // (xen_blkif_schedule): what a bad request came from.
            const std::string name =
                (connections.size() == 1 ? device_.nodename()
                                         : device_.nodename() + "/queue-" + std::to_string(k)) +
                " (dom" + std::to_string(device_.otherend_id()) + ")";
            data_planes_.push_back(std::make_unique<DataPlane>(std::move(connections[k]), *store_,
                                                               limits, plane_options, metrics_,
                                                               on_ring_error, name));
        }
    } catch (const std::system_error& e) {
        disconnect();
        device_.dev_fatal(e.code().value(), std::string("starting the ring: ") + e.what());
        return;
    } catch (const std::exception& e) {
        disconnect();
        device_.dev_fatal(EIO, std::string("starting the ring: ") + e.what());
        return;
    }
    spdlog::info(
        "{}: {} queue(s) of {} page(s), ring-ref {} event-channel {} protocol {}, "
        "persistent {}, {} engine",
        device_.nodename(), keys.queues.size(), std::size_t{1} << keys.ring_page_order,
        keys.ring_ref, keys.event_channel,
        keys.protocol.empty() ? "unspecified, assuming default" : keys.protocol, persistent_,
        data_planes_.front()->engine_name());
    if (!publish_disk()) {
        disconnect();
        return;
    }
    device_.switch_state(XenbusState::connected);
    schedule_resize_check();
}

void XenbusBackend::schedule_resize_check() {
    resize_timer_.expires_after(kResizeCheckInterval);
    resize_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (!ec && self) {
            self->check_resize();
        }
    });
}

void XenbusBackend::check_resize() {
    if (data_planes_.empty() || !store_ || device_.state() != XenbusState::connected) {
        return;  // disconnected meanwhile: the next connect starts it again
    }
    bool changed = false;
    try {
        changed = store_->refresh_size();
        size_unreadable_ = false;
    } catch (const std::system_error& e) {
        if (!std::exchange(size_unreadable_, true)) {
            spdlog::warn("{}: reading the size of {}: {}", device_.nodename(),
                         store_->path().string(), e.what());
        }
    }
    if (changed) {
        // xen_vbd_resize: the ring threads check against the new size first
        // (vbd->size, then vbd_sz in xen_vbd_translate), then the frontend
        // hears of it; a transaction that fails is not tried again.
        const std::uint64_t sectors = store_->sectors();
        spdlog::info("{}: VBD Resize: dom{}, new size {} sectors", device_.nodename(),
                     device_.otherend_id(), sectors);
        for (const auto& plane : data_planes_) {
            plane->set_capacity(sectors);
        }
        try {
            (void)write_vbd_resize(device_, sectors);
        } catch (const std::exception& e) {
            spdlog::warn("{}: writing the new size: {}", device_.nodename(), e.what());
        }
    }
    schedule_resize_check();
}

bool XenbusBackend::publish_disk() {
    // xen_vbd_create: VDISK_CDROM for device-type cdrom, VDISK_REMOVABLE
    // from the disk's GENHD_FL_REMOVABLE, VDISK_READONLY for mode r.
    const std::uint32_t info = (config_->cdrom ? xen::kVdiskCdrom : 0u) |
                               (store_->removable() ? xen::kVdiskRemovable : 0u) |
                               (config_->read_only ? xen::kVdiskReadonly : 0u);
    return device_.client().transact([&](xenstore::client::Transaction& t) {
        if (!t.try_read(device_.node("state"))) {
            return false;
        }
        const xen::BlkifFeatureConfig& features = config_->features;
        const bool copy = features.grant_mode == xen::BlkifGrantMode::copy;
        // xen_blkbk_flush_diskcache, xen_blkbk_barrier, xen_blkbk_discard.
        t.write(device_.node("feature-flush-cache"),
                features.flush_cache && store_->write_cache() ? "1" : "0");
        t.write(device_.node("feature-barrier"),
                features.barrier && store_->write_cache() ? "1" : "0");
        if (!config_->discard_enable) {
            // xen_blkbk_discard returns before writing any discard key.
        } else if (features.discard && store_->discard_supported()) {
            t.write(device_.node("feature-discard"), "1");
            t.write(device_.node("discard-granularity"),
                    std::to_string(store_->discard_granularity()));
            t.write(device_.node("discard-alignment"), std::to_string(store_->discard_alignment()));
            t.write(device_.node("discard-secure"), "0");
        } else {
            t.write(device_.node("feature-discard"), "0");
        }
        t.write(device_.node("feature-persistent"), features.persistent && !copy ? "1" : "0");
        t.write(device_.node("sectors"), std::to_string(store_->sectors()));
        t.write(device_.node("info"), std::to_string(info));
        t.write(device_.node("sector-size"), std::to_string(store_->logical_sector_size()));
        t.write(device_.node("physical-sector-size"),
                std::to_string(store_->physical_sector_size()));
        return true;
    });
}

void XenbusBackend::ring_failed(std::uint64_t generation, const std::string& reason) {
    if (generation != generation_ || data_planes_.empty()) {
        return;
    }
    // Linux halts such a ring with -EACCES (__do_block_io_op).
    device_.dev_fatal(EACCES, reason);
}

void XenbusBackend::flush_refused(std::uint64_t generation, IoKind kind) {
    if (generation != generation_ || data_planes_.empty()) {
        return;
    }
    // xen_blkbk_flush_diskcache(XBT_NIL, be, 0) / xen_blkbk_barrier(XBT_NIL,
    // be, 0): the frontend learns it at its next connect; the request was
    // answered BLKIF_RSP_EOPNOTSUPP, which blkfront acts on at once.
    const std::string_view key =
        kind == IoKind::barrier ? "feature-barrier" : "feature-flush-cache";
    spdlog::warn("{}: {} refused by {} (not supported); {} = 0", device_.nodename(),
                 kind == IoKind::barrier ? "write barrier" : "flush diskcache",
                 store_ ? store_->path().string() : "the store", key);
    try {
        (void)write_backend_nodes(device_, {{key, "0"}});
    } catch (const std::exception& e) {
        spdlog::warn("{}: writing {}: {}", device_.nodename(), key, e.what());
    }
}

void XenbusBackend::disconnect() {
    resize_timer_.cancel();
    if (data_planes_.empty()) {
        return;
    }
    // Requests taken and not answered yet (xen_blkif_disconnect() waits
    // for them, as the loops' stop does): the frontend is named, since its
    // answers go to a ring it may no longer read.
    const VbdCounters before = metrics_->snapshot();
    // Every queue stops taking requests at once, then each drains.
    for (const auto& plane : data_planes_) {
        plane->stop();
    }
    data_planes_.clear();
    if (before.requests > before.responses) {
        spdlog::warn(
            "{} (dom{}): disconnected with {} request(s) in flight; they were "
            "finished before the rings were unmapped",
            device_.nodename(), device_.otherend_id(), before.requests - before.responses);
    }
    spdlog::info("{}: disconnected; counters {}", device_.nodename(),
                 metrics_->snapshot().to_json().dump());
}

void XenbusBackend::release() {
    disconnect();
    frontend_watch_.stop();
    backend_watch_.stop();
    if (store_) {
        spdlog::info("{}: released {}", device_.nodename(), store_->path().string());
        store_.reset();
    }
}

void XenbusBackend::shutdown() {
    frontend_watch_.stop();
    backend_watch_.stop();
    disconnect();
    close_if_forced();
    store_.reset();
}

void XenbusBackend::close_if_forced() {
    // xenbus_dev_remove: "If the toolstack has forced the device state to
    // closing then set the state to closed now to allow it to be cleaned
    // up." blkback allows rebinding, so that is the only Closed written.
    try {
        if (xenstore::client::xenbus_read_driver_state(device_.client(), device_.nodename()) ==
            XenbusState::closing) {
            device_.switch_state(XenbusState::closed);
        }
    } catch (const std::exception& e) {
        spdlog::warn("{}: reading the state at removal: {}", device_.nodename(), e.what());
    }
}

nlohmann::json XenbusBackend::describe() const {
    nlohmann::json out{
        {"backend", device_.nodename()},
        {"type", std::string(to_string(kind_))},
        {"frontend", device_.otherend()},
        {"frontend_id", device_.otherend_id()},
        {"state", std::string(xen::name(device_.state()))},
        {"connected", connected()},
        {"error", device_.last_error()},
        {"counters", metrics_->snapshot().to_json()},
    };
    if (physical_device_) {
        out["physical_device"] = xen::to_node(*physical_device_);
    }
    if (config_) {
        out["params"] = config_->params;
        out["mode"] = config_->mode;
        out["poll_us"] = config_->poll_us.count();
        out["direct"] = config_->direct;
        const xen::BlkifFeatureConfig& f = config_->features;
        out["features"] = {
            {"persistent", f.persistent},
            {"max_indirect_segments", f.max_indirect_segments},
            {"max_ring_page_order", f.max_ring_page_order},
            {"max_queues", f.max_queues},
            {"discard", f.discard},
            {"flush_cache", f.flush_cache},
            {"barrier", f.barrier},
            {"grant_mode", std::string(xen::to_string(f.grant_mode))},
        };
    }
    if (store_) {
        out["sectors"] = store_->sectors();
    }
    if (!data_planes_.empty()) {
        const RingConnection& ring = data_planes_.front()->connection();
        out["ring_ref"] = ring.ring_ref();
        out["event_channel"] = ring.remote_port();
        out["engine"] = std::string(data_planes_.front()->engine_name());
        out["queues"] = data_planes_.size();
        out["ring_pages"] = ring.ring_refs().size();
        out["persistent"] = persistent_;
        bool failed = false;
        for (const auto& plane : data_planes_) {
            failed = failed || plane->ring_failed();
        }
        out["ring_failed"] = failed;
    }
    return out;
}

}  // namespace pvsim::backend::blkback
