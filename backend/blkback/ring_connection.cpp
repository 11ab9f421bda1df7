#include "backend/blkback/ring_connection.hpp"

#include <cerrno>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::backend::blkback {
namespace {

// Gives the mapping back when connect() fails after mapping.
void unmap_quietly(hypervisor::Hypervisor& hypervisor, xen::GrantHandle handle) noexcept {
    try {
        (void)hypervisor.unmap_grant_refs({&handle, 1});
    } catch (const std::exception& e) {
        spdlog::warn("blkback: unmapping ring handle {}: {}", handle, e.what());
    }
}

}  // namespace

RingConnection RingConnection::connect(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                                       xen::GrantRef ring_ref, xen::EvtchnPort port) {
    const std::string what =
        "mapping ring-ref " + std::to_string(ring_ref) + " port " + std::to_string(port);
    const hypervisor::GrantMapRequest request{frontend, ring_ref, false};
    hypervisor::GrantMapping mapping;
    try {
        mapping = hypervisor.map_grant_refs({&request, 1}).at(0);
    } catch (const hypervisor::HypercallError& e) {
        throw RingConnectError(e.error(), what + ": " + e.what());
    }
    if (mapping.status != xen::GntSt::okay) {
        // Linux's __xenbus_map_ring fails a slot that did not map with -ENOENT.
        throw RingConnectError(ENOENT, what + ": " + std::string(xen::name(mapping.status)));
    }
    std::optional<xen::BlkifBackRing> ring;
    try {
        ring.emplace(xen::BlkifBackRing::attach_live(mapping.page, xen::kXenPageSize));
    } catch (const std::invalid_argument& e) {
        unmap_quietly(hypervisor, mapping.handle);
        // xen_blkif_map: "Frontend ring ... has more requests than slots" -> -EIO.
        throw RingConnectError(EIO, what + ": " + e.what());
    }
    hypervisor::EventChannel channel;
    try {
        channel = hypervisor.bind_interdomain(frontend, port);
    } catch (const hypervisor::HypercallError& e) {
        unmap_quietly(hypervisor, mapping.handle);
        throw RingConnectError(e.error(), what + ": " + e.what());
    }
    return RingConnection(hypervisor, frontend, ring_ref, port, mapping.handle, std::move(*ring),
                          std::move(channel));
}

RingConnection::RingConnection(hypervisor::Hypervisor& hypervisor, xen::DomId frontend,
                               xen::GrantRef ring_ref, xen::EvtchnPort remote_port,
                               xen::GrantHandle handle, xen::BlkifBackRing ring,
                               hypervisor::EventChannel channel)
    : hypervisor_(&hypervisor),
      frontend_(frontend),
      ring_ref_(ring_ref),
      remote_port_(remote_port),
      mapped_(true),
      handle_(handle),
      ring_(std::move(ring)),
      channel_(std::move(channel)) {}

RingConnection::RingConnection(RingConnection&& other) noexcept
    : hypervisor_(other.hypervisor_),
      frontend_(other.frontend_),
      ring_ref_(other.ring_ref_),
      remote_port_(other.remote_port_),
      mapped_(std::exchange(other.mapped_, false)),
      handle_(other.handle_),
      ring_(std::move(other.ring_)),
      channel_(std::move(other.channel_)) {}

RingConnection& RingConnection::operator=(RingConnection&& other) noexcept {
    if (this != &other) {
        release();
        hypervisor_ = other.hypervisor_;
        frontend_ = other.frontend_;
        ring_ref_ = other.ring_ref_;
        remote_port_ = other.remote_port_;
        mapped_ = std::exchange(other.mapped_, false);
        handle_ = other.handle_;
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
    if (std::exchange(mapped_, false)) {
        unmap_quietly(*hypervisor_, handle_);
    }
}

}  // namespace pvsim::backend::blkback
