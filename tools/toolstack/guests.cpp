#include "tools/toolstack/guests.hpp"

#include <cstdint>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "common/units.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/node_values.hpp"
#include "tools/toolstack/disk_backend.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/run.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::tools::toolstack {
namespace {

void check_memory(std::uint64_t bytes) {
    if (bytes < (1ull << 20) || bytes > (64ull << 30) || bytes % xen::kXenPageSize != 0) {
        throw ParseError("--memory " + format_size(bytes) +
                         ": expected whole 4 KiB pages from 1 MiB to 64 GiB");
    }
}

}  // namespace

DomainRecord create_guest(const RunDir& run, const Programs& programs,
                          hypervisor::ControlClient& control, xenstore::client::Client& xenstore,
                          const GuestSpec& spec) {
    check_domain_name(spec.name);
    check_memory(spec.memory_bytes);
    hypervisor::CreateDomain request;
    request.name = spec.name;
    request.memory_bytes = spec.memory_bytes;
    request.program = spec.driver_domain ? programs.backend : programs.guest;
    if (spec.log_level) {
        request.env["PVSIM_LOG"] = *spec.log_level;
    }
    if (spec.cpus) {
        request.cpus = spec.cpus->to_string();
    }
    const hypervisor::CreatedDomain created = control.create(request);
    try {
        introduce_domain(xenstore, created, spec.name, spec.memory_bytes);
        if (!spec.driver_domain) {
            GuestAgent agent(run, created.domid);
            (void)agent.request({{"op", "ping"}});
        }
        // A driver domain's pvsim-backend needs no word from the toolstack:
        // the first event of its watch on backend/vbd lists every vbd
        // written before it watched (XS_WATCH fires once at once), so a
        // disk attached at any time after create is served.
    } catch (const std::exception& e) {
        try {
            control.destroy(created.domid);
            forget_domain(xenstore, created.domid);
        } catch (const std::exception&) {
            // Reported below with the cause; `pvsim down` removes the rest.
        }
        throw std::runtime_error("guest " + spec.name + " did not come up: " + e.what());
    }
    return find_domain(control, std::to_string(created.domid));
}

std::vector<xen::DomId> reap_dead_domains(const RunDir& run, hypervisor::ControlClient& control,
                                          xenstore::client::Client& xenstore) {
    std::set<xen::DomId> alive;
    for (const DomainRecord& domain : list_domains(control)) {
        alive.insert(domain.domid);
    }
    auto dead = [&](const std::string& name) -> std::optional<xen::DomId> {
        const auto domid = xen::parse_node_u32(name);
        if (!domid || *domid == 0 || alive.contains(static_cast<xen::DomId>(*domid))) {
            return std::nullopt;
        }
        return static_cast<xen::DomId>(*domid);
    };
    auto children = [&](const std::string& path) {
        return xenstore.try_read(path) ? xenstore.directory(path) : std::vector<std::string>{};
    };
    // The dead domain's home may be gone already (its frontend directories
    // with it): its disks are found from the backends' side, as
    // libxl__devices_destroy walks the backend directories it wrote.
    const std::vector<std::string> domains = children("/local/domain");
    std::set<xen::DomId> reaped;
    for (const std::string& backend_name : domains) {
        const auto backend = xen::parse_node_u32(backend_name);
        if (!backend || !alive.contains(static_cast<xen::DomId>(*backend))) {
            continue;
        }
        const auto backend_domid = static_cast<xen::DomId>(*backend);
        const std::string base = "/local/domain/" + backend_name + "/backend/";
        // Each device of a dead frontend under backend/<kind>, removed
        // forced: the frontend cannot take part in a close.
        const auto remove_dead = [&](std::string_view kind, const auto& remove) {
            const std::string dir = base + std::string(kind);
            for (const std::string& frontend : children(dir)) {
                if (const auto domid = dead(frontend)) {
                    for (const std::string& devid : children(dir + "/" + frontend)) {
                        if (const auto number = xen::parse_node_u32(devid)) {
                            remove(*domid, *number);
                        }
                    }
                    reaped.insert(*domid);
                }
            }
        };
        for (const DiskBackend kind : {DiskBackend::phy, DiskBackend::qdisk}) {
            remove_dead(backend_kind(kind), [&](xen::DomId domid, std::uint32_t devid) {
                detach_vbd(xenstore, VbdPaths::of(backend_domid, domid, devid, kind),
                           {std::chrono::milliseconds(0), true});
            });
        }
        remove_dead(kVirtioDeviceType, [&](xen::DomId domid, std::uint32_t devid) {
            (void)detach_virtio_disk(xenstore, run,
                                     VirtioDiskPaths::of(backend_domid, domid, devid, false), true,
                                     std::chrono::milliseconds(0));
        });
    }
    for (const std::string& name : domains) {
        if (const auto domid = dead(name)) {
            reaped.insert(*domid);
        }
    }
    for (const xen::DomId domid : reaped) {
        if (xenstore.try_read(xenstore::client::domain_path(domid))) {
            forget_domain(xenstore, domid);
        } else if (xenstore.try_read(xenstore::client::libxl_domain_path(domid))) {
            xenstore.rm(xenstore::client::libxl_domain_path(domid));
        }
        std::error_code ignored;
        std::filesystem::remove(run.guest_agent_socket(domid), ignored);
    }
    return {reaped.begin(), reaped.end()};
}

bool backend_runs(const RunDir& run, hypervisor::ControlClient& control, xen::DomId backend_domid) {
    if (backend_domid == 0) {
        return daemon_pid(run, kDom0Daemon).has_value() ||
               daemon_pid(run, kDom0Monitor).has_value();
    }
    for (const DomainRecord& domain : list_domains(control)) {
        if (domain.domid == backend_domid) {
            return domain.state == "running";
        }
    }
    return false;
}

bool is_driver_domain(const DomainRecord& domain) {
    return domain.domid != 0 && domain.pid > 0 && program_of(domain.pid) == "pvsim-backend";
}

std::vector<VbdPaths> vbds_served_by(hypervisor::ControlClient& control,
                                     xenstore::client::Client& xenstore, xen::DomId backend_domid) {
    std::vector<VbdPaths> served;
    for (const DomainRecord& guest : list_domains(control)) {
        for (VbdPaths& paths : list_vbds(xenstore, guest.domid)) {
            if (paths.backend_domid == backend_domid) {
                served.push_back(std::move(paths));
            }
        }
    }
    return served;
}

std::string detach_or_force(xenstore::client::Client& xenstore, const VbdPaths& paths, bool force,
                            std::chrono::milliseconds timeout) {
    if (!force) {
        try {
            detach_vbd(xenstore, paths, {timeout, false});
            return "detached";
        } catch (const std::runtime_error&) {
            // Not Closed in time (e.g. the guest is gone): forced below.
        }
    }
    detach_vbd(xenstore, paths, {std::chrono::milliseconds(0), true});
    return "forced";
}

void destroy_guest(const RunDir& run, hypervisor::ControlClient& control,
                   xenstore::client::Client& xenstore, const DomainRecord& domain,
                   std::chrono::milliseconds timeout, const DetachReport& report) {
    for (const VbdPaths& paths : list_vbds(xenstore, domain.domid)) {
        // Forced at once when no backend runs that could close it.
        const std::string outcome = detach_or_force(
            xenstore, paths, !backend_runs(run, control, paths.backend_domid), timeout);
        if (report) {
            report(paths, outcome);
        }
    }
    for (const VirtioDiskPaths& disk : list_virtio_disks(xenstore, domain.domid)) {
        (void)detach_virtio_disk(xenstore, run, disk, false, timeout);
    }
    control.destroy(domain.domid);
    forget_domain(xenstore, domain.domid);
    std::error_code ignored;
    std::filesystem::remove(run.guest_agent_socket(domain.domid), ignored);
}

}  // namespace pvsim::tools::toolstack
