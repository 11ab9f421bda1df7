#include "tools/toolstack/domain.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "common/units.hpp"
#include "common/xen/xs_permissions.hpp"
#include "xenstore/client/error.hpp"
#include "xenstore/client/xenbus_paths.hpp"

namespace pvsim::tools::toolstack {
namespace {

using xen::xs::Access;

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

DomainRecord DomainRecord::from_json(const nlohmann::json& domain) {
    return {domain.at("domid").get<xen::DomId>(), domain.at("name").get<std::string>(),
            domain.at("state").get<std::string>(), domain.at("memory").get<std::uint64_t>(),
            domain.value("pid", 0)};
}

void check_domain_name(std::string_view name) {
    const std::string quoted = "domain name \"" + std::string(name) + "\"";
    if (name.empty() || name.size() > 64) {
        throw ParseError(quoted + ": expected 1 to 64 characters");
    }
    for (const unsigned char c : name) {
        if (std::isalnum(c) == 0 && c != '_' && c != '.' && c != '-') {
            throw ParseError(quoted + ": only letters, digits, '_', '.' and '-' are allowed");
        }
    }
    if (name.front() == '-' || name.front() == '.') {
        throw ParseError(quoted + ": may not start with '-' or '.'");
    }
    if (all_digits(name)) {
        throw ParseError(quoted + ": a name of digits only would read as a domid");
    }
    if (name == "Domain-0" || name == "dom0") {
        throw ParseError(quoted + ": that is domain 0's name");
    }
}

std::vector<DomainRecord> list_domains(hypervisor::ControlClient& control) {
    std::vector<DomainRecord> domains;
    for (const auto& domain : control.list()) {
        domains.push_back(DomainRecord::from_json(domain));
    }
    return domains;
}

DomainRecord find_domain(hypervisor::ControlClient& control, std::string_view name_or_id) {
    const bool dom0 = name_or_id == "dom0" || name_or_id == "Domain-0" || name_or_id == "0";
    for (const DomainRecord& domain : list_domains(control)) {
        if ((dom0 && domain.domid == 0) || domain.name == name_or_id ||
            (all_digits(name_or_id) && std::to_string(domain.domid) == name_or_id)) {
            return domain;
        }
    }
    throw std::runtime_error("no domain called \"" + std::string(name_or_id) +
                             "\" (see `pvsim list`)");
}

void introduce_domain(xenstore::client::Client& xenstore, const hypervisor::CreatedDomain& domain,
                      const std::string& name, std::uint64_t memory_bytes) {
    const std::string home = xenstore::client::domain_path(domain.domid);
    const xen::xs::Permissions readable = {{Access::none, 0}, {Access::read, domain.domid}};
    const xen::xs::Permissions own = {{Access::none, domain.domid}};
    xenstore.transact([&](xenstore::client::Transaction& t) {
        t.mkdir(home);
        t.set_perms(home, readable);
        t.write(home + "/name", name);
        t.write(home + "/domid", std::to_string(domain.domid));
        t.write(home + "/memory/target", std::to_string(memory_bytes / 1024));
        for (const char* dir : {"/device", "/control"}) {
            t.mkdir(home + dir);
            t.set_perms(home + dir, readable);
        }
        for (const char* dir :
             {"/control/shutdown", "/data", "/drivers", "/feature", "/attr", "/error"}) {
            t.mkdir(home + dir);
            t.set_perms(home + dir, own);
        }
    });
    xenstore.introduce(domain.domid, domain.store_gfn, domain.store_port);
}

void forget_domain(xenstore::client::Client& xenstore, xen::DomId domid) {
    xenstore.rm(xenstore::client::domain_path(domid));
    // libxl__destroy_domid: the domain's libxl record goes with it.
    if (xenstore.try_read(xenstore::client::libxl_domain_path(domid))) {
        xenstore.rm(xenstore::client::libxl_domain_path(domid));
    }
    try {
        xenstore.release(domid);
    } catch (const xenstore::client::Error&) {
        // Released already: xenstored forgets a domain when it dies.
    }
}

}  // namespace pvsim::tools::toolstack
