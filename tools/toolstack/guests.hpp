// `pvsim create` and `pvsim destroy` end to end, as xl create/destroy drive
// libxl: the hypervisor makes the domain and spawns pvsim-guest in it, the
// toolstack writes its xenstore home and introduces it (domain.hpp), and
// create returns once the guest's agent answers. Destroy detaches every vbd
// in order first (the guest still running takes part in the close), then
// destroys the domain and forgets its home.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/os/cpu_list.hpp"
#include "common/run_dir.hpp"
#include "hypervisor/client/control_client.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/programs.hpp"
#include "tools/toolstack/vbd.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

struct GuestSpec {
    std::string name;
    std::uint64_t memory_bytes = 64ull << 20;
    std::optional<std::string> log_level;  // the guest's PVSIM_LOG
    // A driver domain (xl.cfg's driver_domain=1): it runs pvsim-backend, the
    // blkback that serves the vbds whose backend it is (DISKSPEC backend=),
    // instead of pvsim-guest. It has no agent and no disks of its own.
    bool driver_domain = false;
    // xl.cfg's cpus=: the host CPUs its process runs on (hard affinity).
    std::optional<os::CpuList> cpus = std::nullopt;
};

// A guest whose process died was destroyed by the hypervisor (xl's default
// on_crash=destroy), and its devices must go as libxl's domain-death
// handling takes them (libxl_domain_destroy -> libxl__devices_destroy: every
// backend and frontend directory removed, the block script's remove run,
// the domain's home forgotten). xl does that from the monitor it leaves per
// domain; pvsim does it here, at the next toolstack command that adds a
// domain or a disk (create, block-attach), before any check that would
// find the dead domain's disks still attached. Returns the domids reaped.
std::vector<xen::DomId> reap_dead_domains(const RunDir& run, hypervisor::ControlClient& control,
                                          xenstore::client::Client& xenstore);

// Whether a backend runs, or will run again, that can close a vbd served by
// `backend_domid`: dom0's pvsim-backend or the monitor that restarts it, or
// a driver domain still running. Without one no Closed can come, and an
// orderly detach would only wait out its timeout.
bool backend_runs(const RunDir& run, hypervisor::ControlClient& control, xen::DomId backend_domid);

// Whether the domain is a driver domain: its process runs pvsim-backend.
bool is_driver_domain(const DomainRecord& domain);

// The vbds of every guest whose backend is `backend_domid`.
std::vector<VbdPaths> vbds_served_by(hypervisor::ControlClient& control,
                                     xenstore::client::Client& xenstore, xen::DomId backend_domid);

// Throws ParseError for a bad name or memory size (at least 1 MiB, at most
// 64 GiB, whole pages), std::runtime_error when the hypervisor refuses (a
// name in use) or the guest does not come up (the domain is destroyed
// again then: nothing is left).
DomainRecord create_guest(const RunDir& run, const Programs& programs,
                          hypervisor::ControlClient& control, xenstore::client::Client& xenstore,
                          const GuestSpec& spec);

// Called with each vbd as it is detached ("xvda": detached / forced).
using DetachReport = std::function<void(const VbdPaths&, const std::string& outcome)>;

// Detaches every vbd and virtio disk of the guest (orderly, within
// `timeout` each, forced after), destroys the domain and forgets it in xenstore.
void destroy_guest(const RunDir& run, hypervisor::ControlClient& control,
                   xenstore::client::Client& xenstore, const DomainRecord& domain,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10),
                   const DetachReport& report = {});

// Detaches one vbd: orderly, and with force when `force` or when the
// orderly detach did not finish in time. Returns "detached" or "forced".
std::string detach_or_force(xenstore::client::Client& xenstore, const VbdPaths& paths, bool force,
                            std::chrono::milliseconds timeout);

}  // namespace pvsim::tools::toolstack
