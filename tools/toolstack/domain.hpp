// The toolstack's part of making and unmaking a guest, as libxl does it
// (tools/libs/light/libxl_create.c libxl__domain_make, libxl_dom.c
// libxl__build_post's xs_introduce_domain, libxl_domain.c
// libxl__destroy_domid): the hypervisor creates the domain and spawns its
// process; the toolstack writes its xenstore home and introduces it to
// xenstored; destroying removes its devices, then the domain, then its
// home.
//
// Home directory written (libxl's, minus what pvsim has no use for):
//   /local/domain/<domid>            perms n0 r<domid>   name, domid, memory/target (KiB)
//   .../device, .../control          perms n0 r<domid>
//   .../control/shutdown, .../data,
//   .../drivers, .../feature,
//   .../attr, .../error              perms n<domid> (the guest's own)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/xen/grant_table.hpp"
#include "hypervisor/client/control_client.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::toolstack {

// A domain as the hypervisor reports it (control.hpp's DOMAIN).
struct DomainRecord {
    xen::DomId domid = 0;
    std::string name;
    std::string state;  // "running" | "dying"
    std::uint64_t memory_bytes = 0;
    int pid = 0;

    static DomainRecord from_json(const nlohmann::json& domain);
};

// Checks a name for a new guest: 1 to 64 of [A-Za-z0-9_.-], not starting
// with '-' or '.', not all digits (those name domids), not "Domain-0" or
// "dom0". Throws ParseError saying what is wrong.
void check_domain_name(std::string_view name);

// The domain called `name_or_id` ("dom0" and "Domain-0" are domain 0; a
// number is a domid). Throws std::runtime_error "no domain called ...".
DomainRecord find_domain(hypervisor::ControlClient& control, std::string_view name_or_id);

std::vector<DomainRecord> list_domains(hypervisor::ControlClient& control);

// Writes the home directory and introduces the domain (XS_INTRODUCE with
// what create answered).
void introduce_domain(xenstore::client::Client& xenstore, const hypervisor::CreatedDomain& domain,
                      const std::string& name, std::uint64_t memory_bytes);

// Removes the home directory and tells xenstored to forget the domain
// (XS_RELEASE; a domain it has already released on its death is fine).
void forget_domain(xenstore::client::Client& xenstore, xen::DomId domid);

}  // namespace pvsim::tools::toolstack
