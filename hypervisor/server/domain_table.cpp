#include "hypervisor/server/domain_table.hpp"

#include <stdexcept>

namespace pvsim::hypervisor::server {

DomainTable::DomainTable(std::string shm_tag, std::uint32_t grant_frames)
    : shm_tag_(std::move(shm_tag)), grant_frames_(grant_frames) {}

Domain& DomainTable::create(std::string name, std::uint64_t memory_bytes) {
    // xen.h: ids from DOMID_FIRST_RESERVED up name special domains.
    if (next_domid_ >= xen::kDomidFirstReserved) {
        throw std::runtime_error("no domid left: " + std::to_string(next_domid_) +
                                 " domains were created in this run");
    }
    const auto domid = static_cast<xen::DomId>(next_domid_);
    auto domain =
        std::make_unique<Domain>(shm_tag_, domid, std::move(name), memory_bytes, grant_frames_);
    ++next_domid_;
    Domain& result = *domain;
    domains_.emplace(domid, std::move(domain));
    return result;
}

Domain* DomainTable::find(xen::DomId domid) const {
    const auto it = domains_.find(domid);
    return it == domains_.end() ? nullptr : it->second.get();
}

Domain* DomainTable::find_running(xen::DomId domid) const {
    Domain* domain = find(domid);
    return domain != nullptr && domain->running() ? domain : nullptr;
}

Domain* DomainTable::find_by_name(std::string_view name) const {
    Domain* dying = nullptr;
    for (const auto& [domid, domain] : domains_) {
        if (domain->name() == name) {
            if (domain->running()) {
                return domain.get();
            }
            dying = domain.get();
        }
    }
    return dying;
}

void DomainTable::remove(xen::DomId domid) {
    domains_.erase(domid);
}

std::vector<xen::DomId> DomainTable::reap_dying() {
    std::vector<xen::DomId> reaped;
    for (auto it = domains_.begin(); it != domains_.end();) {
        if (!it->second->running() && it->second->mapped_by_others() == 0) {
            reaped.push_back(it->first);
            it = domains_.erase(it);
        } else {
            ++it;
        }
    }
    return reaped;
}

}  // namespace pvsim::hypervisor::server
