#include "backend/blkback/ring_connection.hpp"

#include <cerrno>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::backend::blkback {
namespace {

// Gives the mappings back when connect() fails after mapping.
void unmap_quietly(hypervisor::Hypervisor& hypervisor,
                   std::span<const xen::GrantHandle> handles) noexcept {
    if (handles.empty()) {
        return;
    }
    try {
        (void)hypervisor.unmap_grant_refs(handles);
    } catch (const std::exception& e) {
        spdlog::warn("blkback: unmapping {} ring handles: {}", handles.size(), e.what());
    }
}

bool valid_page_count(std::size_t pages) noexcept {
    return pages != 0 && pages <= (std::size_t{1} << xen::kBlkifMaxRingPageOrder) &&
           (pages & (pages - 1)) == 0;
}

}  // namespace

RingConnection RingConnection::connect(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                                       std::span<const xen::GrantRef> ring_refs,
                                       xen::EvtchnPort port, xen::BlkifProtocol protocol) {
    std::string what = "mapping ring-ref";
    for (const xen::GrantRef ref : ring_refs) {
        what += " " + std::to_string(ref);
    }
    what += " port " + std::to_string(port);
    if (!valid_page_count(ring_refs.size())) {
        throw RingConnectError(EINVAL, what + ": " + std::to_string(ring_refs.size()) +
                                           " ring pages is not a power of two up to 16");
    }
    std::vector<hypervisor::GrantMapRequest> requests;
    for (const xen::GrantRef ref : ring_refs) {
        requests.push_back({frontend, ref, false});
    }
    std::vector<hypervisor::GrantMapping> mappings;
    try {
        mappings = hypervisor.map_grant_refs(requests);
    } catch (const hypervisor::HypercallError& e) {
        throw RingConnectError(e.error(), what + ": " + e.what());
    }
    std::vector<xen::GrantHandle> handles;
    std::optional<std::string> failure;
    for (std::size_t i = 0; i < mappings.size(); ++i) {
        if (mappings[i].status == xen::GntSt::okay) {
            handles.push_back(mappings[i].handle);
        } else if (!failure) {
            failure = std::string(xen::name(mappings[i].status));
            if (ring_refs.size() > 1) {
                *failure += " (ring-ref " + std::to_string(ring_refs[i]) + ")";
            }
        }
    }
    if (failure) {
        unmap_quietly(hypervisor, handles);
        // Linux's __xenbus_map_ring fails a slot that did not map with -ENOENT.
        throw RingConnectError(ENOENT, what + ": " + *failure);
    }
    hypervisor::GrantArea area;
    std::byte* ring_memory = mappings[0].page;
    if (handles.size() > 1) {
        try {
            area = hypervisor.map_area(handles);
        } catch (const std::exception& e) {
            unmap_quietly(hypervisor, handles);
            throw RingConnectError(ENOMEM, what + ": " + e.what());
        }
        ring_memory = area.data();
    }
    std::optional<xen::BlkifBackRings> ring;
    const std::size_t ring_bytes = handles.size() * xen::kXenPageSize;
    try {
        if (protocol == xen::BlkifProtocol::x86_32) {
            ring.emplace(xen::BlkifX86_32BackRing::attach_live(ring_memory, ring_bytes));
        } else {
            ring.emplace(xen::BlkifBackRing::attach_live(ring_memory, ring_bytes));
        }
    } catch (const std::invalid_argument& e) {
        area.reset();
        unmap_quietly(hypervisor, handles);
        // xen_blkif_map: "Frontend ring ... has more requests than slots" -> -EIO.
        throw RingConnectError(EIO, what + ": " + e.what());
    }
    hypervisor::EventChannel channel;
    try {
        channel = hypervisor.bind_interdomain(frontend, port);
    } catch (const hypervisor::HypercallError& e) {
        area.reset();
        unmap_quietly(hypervisor, handles);
        throw RingConnectError(e.error(), what + ": " + e.what());
    }
    return RingConnection(
        hypervisor, frontend, std::vector<xen::GrantRef>(ring_refs.begin(), ring_refs.end()), port,
        std::move(handles), std::move(area), std::move(*ring), std::move(channel));
}

RingConnection::RingConnection(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                               std::vector<xen::GrantRef> ring_refs, xen::EvtchnPort remote_port,
                               std::vector<xen::GrantHandle> handles, hypervisor::GrantArea area,
                               xen::BlkifBackRings ring, hypervisor::EventChannel channel)
    : hypervisor_(&hypervisor),
      frontend_(frontend),
      ring_refs_(std::move(ring_refs)),
      remote_port_(remote_port),
      handles_(std::move(handles)),
      area_(std::move(area)),
      ring_(std::move(ring)),
      channel_(std::move(channel)) {}

RingConnection::RingConnection(RingConnection&& other) noexcept
    : hypervisor_(other.hypervisor_),
      frontend_(other.frontend_),
      ring_refs_(std::move(other.ring_refs_)),
      remote_port_(other.remote_port_),
      handles_(std::exchange(other.handles_, {})),
      area_(std::move(other.area_)),
      ring_(std::move(other.ring_)),
      channel_(std::move(other.channel_)) {}

RingConnection& RingConnection::operator=(RingConnection&& other) noexcept {
    if (this != &other) {
        release();
        hypervisor_ = other.hypervisor_;
        frontend_ = other.frontend_;
        ring_refs_ = std::move(other.ring_refs_);
        remote_port_ = other.remote_port_;
        handles_ = std::exchange(other.handles_, {});
        area_ = std::move(other.area_);
        ring_ = std::move(other.ring_);
        channel_ = std::move(other.channel_);
    }
    return *this;
}

RingConnection::~RingConnection() {
    release();
}

void RingConnection::release() noexcept {
    try {
        channel_.close();
    } catch (const std::exception& e) {
        spdlog::warn("blkback: closing the port bound to dom{} port {}: {}", frontend_,
                     remote_port_, e.what());
    }
    area_.reset();
    if (!handles_.empty()) {
        unmap_quietly(*hypervisor_, handles_);
        handles_.clear();
    }
}

}  // namespace pvsim::backend::blkback
