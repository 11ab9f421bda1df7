#include "tools/cli/block_attach.hpp"

#include "common/units.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/cli/target_access.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/run.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/vbd_status.hpp"

namespace pvsim::tools::cli {
namespace {

using xen::XenbusState;

std::string end_state(const std::optional<XenbusState>& state) {
    return state ? std::string(xen::name(*state)) : "gone";
}

}  // namespace

std::string checked_target(const toolstack::DiskSpec& spec) {
    return checked_target("target", spec.target, spec.readonly,
                          " (access=rw needs it writable; access=ro attaches it read-only)");
}

toolstack::VbdPaths block_attach(Session& session, const std::string& domain_name,
                                 const toolstack::DiskSpec& spec,
                                 std::chrono::milliseconds timeout) {
    (void)toolstack::reap_dead_domains(session.run(), session.control(), session.xenstore());
    if (spec.specification != "xen") {
        throw CommandError("specification=" + spec.specification +
                           ": a virtio disk is attached by virtio_block_attach");
    }
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), domain_name);
    if (domain.domid == 0) {
        throw CommandError("block-attach: dom0 runs the backends; attach to a guest");
    }
    if (toolstack::is_driver_domain(domain)) {
        throw CommandError(domain.name + " is a driver domain: it serves disks (backend=" +
                           domain.name + ") and runs no blkfront");
    }
    const toolstack::DomainRecord backend = toolstack::find_domain(session.control(), spec.backend);
    if (backend.domid == domain.domid) {
        throw CommandError("backend=" + spec.backend + ": a domain does not serve its own disk");
    }
    if (backend.domid != 0 && !toolstack::is_driver_domain(backend)) {
        throw CommandError("backend=" + spec.backend + ": " + backend.name +
                           " runs no block backend (pvsim create NAME --driver-domain makes a "
                           "domain that does, as xl.cfg's driver_domain=1)");
    }
    if (backend.domid == 0 && !toolstack::daemon_pid(session.run(), toolstack::kDom0Daemon)) {
        throw CommandError("dom0's backend (" + std::string(toolstack::kDom0Daemon) +
                           ") is not running; nothing would serve the disk (a script can `restart "
                           "dom0`; else pvsim down, then up)");
    }
    if (auto existing = toolstack::find_vbd(session.xenstore(), domain.domid, spec.vdev)) {
        const auto status = toolstack::read_vbd_status(session.xenstore(), *existing);
        throw CommandError("vdev " + spec.vdev + " of " + domain.name + " is in use (" +
                           status.vdev + " -> " + status.target + ")");
    }
    toolstack::VbdSpec vbd;
    vbd.domid = domain.domid;
    vbd.backend_domid = backend.domid;
    vbd.vdev = spec.vdev;
    vbd.target = checked_target(spec);
    vbd.readonly = spec.readonly;
    vbd.shared = spec.shared;
    vbd.backend = spec.backendtype;
    vbd.direct_io_safe = spec.direct_io_safe.value_or(false);
    vbd.cdrom = spec.cdrom;
    vbd.direct = spec.direct.value_or(false);
    vbd.poll_us = spec.poll_us;
    vbd.protocol = spec.protocol.value_or(xen::BlkifProtocol::x86_64);
    vbd.trusted = spec.trusted.value_or(true);
    vbd.frontend_features = spec.frontend_features;
    vbd.backend_features = spec.backend_features;
    try {
        // What an end would refuse is refused here, before anything is written.
        (void)toolstack::blkif_config_nodes(vbd.backend_features, xen::BlkifEnd::backend);
        (void)toolstack::blkif_config_nodes(vbd.frontend_features, xen::BlkifEnd::frontend);
    } catch (const std::invalid_argument& e) {
        throw CommandError("DISKSPEC: " + std::string(e.what()));
    }

    auto& xs = session.xenstore();
    toolstack::VbdPaths paths;
    try {
        paths = toolstack::attach_vbd(xs, vbd, timeout);
    } catch (const std::exception& e) {
        if (auto left = toolstack::find_vbd(xs, domain.domid, spec.vdev)) {
            toolstack::detach_or_force(xs, *left, true, std::chrono::milliseconds(0));
        }
        throw CommandError(e.what());
    }
    // Connected at both ends, or an end gave up.
    auto settled = [](std::optional<XenbusState> state) {
        return !state || *state == XenbusState::connected || *state == XenbusState::closing ||
               *state == XenbusState::closed;
    };
    const auto front = toolstack::wait_for_state(xs, paths.frontend + "/state", settled, timeout);
    const auto back =
        toolstack::wait_for_state(xs, paths.backend + "/state", settled, std::chrono::seconds(5));
    if (front.state == XenbusState::connected && back.state == XenbusState::connected) {
        return paths;
    }
    const auto status = toolstack::read_vbd_status(xs, paths);
    const std::string why =
        status.error
            ? *status.error
            : "frontend " + end_state(front.state) + ", backend " + end_state(back.state) +
                  (front.accepted ? "" : " after " + std::to_string(timeout.count()) + " ms");
    toolstack::detach_or_force(xs, paths, false, std::chrono::seconds(5));
    throw CommandError("vdev " + spec.vdev + " of " + domain.name + " did not connect: " + why);
}

}  // namespace pvsim::tools::cli
