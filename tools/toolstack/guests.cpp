#include "tools/toolstack/guests.hpp"

#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "common/units.hpp"
#include "common/xen/grant_table.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

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
        const std::string outcome = detach_or_force(xenstore, paths, false, timeout);
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
