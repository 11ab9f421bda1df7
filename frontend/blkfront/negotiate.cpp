#include "frontend/blkfront/negotiate.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/xen/blkif.hpp"
#include "frontend/blkfront/xenbus_frontend.hpp"

namespace pvsim::frontend::blkfront {

RingLayout negotiate_rings(const xen::BlkifFeatureConfig& ours, const BackendNodeReader& backend) {
    unsigned backend_queues = 1;
    unsigned backend_order = 0;
    if (const auto text = backend("multi-queue-max-queues")) {
        backend_queues = static_cast<unsigned>(
            parse_node_number("multi-queue-max-queues", *text, xen::kBlkifMaxQueues * 1024));
    }
    if (const auto text = backend("max-ring-page-order")) {
        backend_order = static_cast<unsigned>(parse_node_number("max-ring-page-order", *text, 64));
    }
    return RingLayout{.queues = std::max(1u, std::min(ours.max_queues, backend_queues)),
                      .order = std::min(ours.max_ring_page_order, backend_order)};
}

void write_ring_keys(xenstore::client::Transaction& t, const std::string& nodename, unsigned order,
                     std::span<const FrontRing> rings, bool persistent,
                     xen::BlkifProtocol protocol) {
    // The ring keys of one queue under `dir` (the device directory, or its
    // queue-K), as write_per_ring_nodes does.
    const auto write_ring = [&](const std::string& dir, const FrontRing& ring) {
        if (order == 0) {
            t.write(dir + "/ring-ref", std::to_string(ring.pages->ref()));
        } else {
            for (std::size_t i = 0; i < ring.pages->refs().size(); ++i) {
                t.write(dir + "/ring-ref" + std::to_string(i),
                        std::to_string(ring.pages->refs()[i]));
            }
        }
        t.write(dir + "/event-channel", std::to_string(ring.channel.port()));
    };
    for (const std::string& key : t.directory(nodename)) {
        if (key.starts_with("ring-ref") || key.starts_with("queue-") || key == "event-channel" ||
            key == "ring-page-order" || key == "multi-queue-num-queues") {
            t.rm(nodename + "/" + key);
        }
    }
    if (order > 0) {
        t.write(nodename + "/ring-page-order", std::to_string(order));
    }
    if (rings.size() == 1) {
        write_ring(nodename, rings.front());
    } else {
        t.write(nodename + "/multi-queue-num-queues", std::to_string(rings.size()));
        for (std::size_t q = 0; q < rings.size(); ++q) {
            write_ring(nodename + "/queue-" + std::to_string(q), rings[q]);
        }
    }
    // talk_to_blkback: XEN_IO_PROTO_ABI_NATIVE, the guest's own layout.
    t.write(nodename + "/protocol", xen::to_string(protocol));
    t.write(nodename + "/feature-persistent", persistent ? "1" : "0");
}

DiskInfo negotiate_features(DiskInfo offered, const xen::BlkifFeatureConfig& ours) {
    DiskInfo disk = std::move(offered);
    disk.feature_persistent = disk.feature_persistent && ours.persistent;
    disk.max_indirect_segments = std::min(disk.max_indirect_segments, ours.max_indirect_segments);
    if (disk.max_indirect_segments <= xen::kBlkifMaxSegmentsPerRequest) {
        disk.max_indirect_segments = 0;
    }
    disk.feature_discard = disk.feature_discard && ours.discard;
    if (!disk.feature_discard) {
        disk.discard_granularity = 0;
        disk.discard_alignment = 0;
        disk.feature_secdiscard = false;
    }
    disk.feature_flush_cache = disk.feature_flush_cache && ours.flush_cache;
    disk.feature_barrier = disk.feature_barrier && ours.barrier;
    return disk;
}

// talk_to_blkback (Linux 5.19+, XSA-403): "Check if backend is trusted",
// info->bounce = !xenbus_read_unsigned(dev->nodename, "trusted", 1): our own
// directory's node, which the toolstack writes (libxl__device_disk_add, Xen
// 4.17+). Missing, or not a number, is xenbus_read_unsigned's default.
bool XenbusFrontend::read_trusted() {
    try {
        return parse_node_flag("trusted", try_read(nodename_ + "/trusted"), true);
    } catch (const std::invalid_argument& e) {
        spdlog::warn("blkfront {}: {}; the backend is trusted", nodename_, e.what());
        return true;
    }
}

// The control plane's side: talk_to_blkback / negotiate_mq / setup_blkring,
// as many queues and ring pages as both ends allow.
void XenbusFrontend::talk_to_backend() {
    try {
        trusted_ = read_trusted();
    } catch (const xenstore::client::Error& e) {
        fatal(e.errnum(), std::string("reading trusted: ") + e.what());
        return;
    }
    RingLayout layout;
    try {
        layout = negotiate_rings(features_, [this](std::string_view key) {
            return try_read(backend_path_ + "/" + std::string(key));
        });
    } catch (const xenstore::client::Error& e) {
        fatal(e.errnum(), std::string("reading backend limits: ") + e.what());
        return;
    } catch (const std::invalid_argument& e) {
        fatal(EINVAL, std::string("reading backend limits: ") + e.what());
        return;
    }
    const unsigned queues = layout.queues;
    const unsigned order = layout.order;
    drop_rings();
    try {
        for (unsigned q = 0; q < queues; ++q) {
            Ring ring;
            ring.pages = std::make_unique<RingPage>(hypervisor_, backend_id_, order);
            rings_.push_back(std::move(ring));
        }
    } catch (const std::exception& e) {
        drop_rings();
        fatal(ENOMEM, std::string("allocating and granting the ring pages: ") + e.what());
        return;
    }
    try {
        for (Ring& ring : rings_) {
            ring.channel = hypervisor_.alloc_unbound(backend_id_);
        }
    } catch (const std::exception& e) {
        fatal(ENOSPC, std::string("allocating event channel: ") + e.what());
        return;
    }
    bool present = true;
    try {
        present = xenstore_.transact([&](xenstore::client::Transaction& t) {
            if (!t.try_read(nodename_ + "/state")) {
                return false;
            }
            write_ring_keys(t, nodename_, order, rings_, features_.persistent, protocol_);
            t.write(nodename_ + "/state",
                    std::to_string(static_cast<std::uint32_t>(xen::XenbusState::initialised)));
            return true;
        });
    } catch (const xenstore::client::Error& e) {
        fatal(e.errnum(), std::string("writing ring keys: ") + e.what());
        return;
    }
    if (!present) {
        spdlog::warn("blkfront {}: device directory gone while connecting", nodename_);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        negotiated_.queues = queues;
        negotiated_.ring_page_order = order;
    }
    spdlog::info("blkfront {}: {} queue(s) of {} ring page(s), ring-ref {}, event-channel {}",
                 nodename_, queues, 1u << order, rings_.front().pages->ref(),
                 rings_.front().channel.port());
    set_state(xen::XenbusState::initialised);
}

}  // namespace pvsim::frontend::blkfront
