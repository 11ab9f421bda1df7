// Every domain of the run by domid (Xen's domain list): dom0 first, then
// guests with domids from 1, monotonic and never reused within a run, so a
// stale domid can never name a newer domain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/xen/grant_table.hpp"
#include "hypervisor/server/domain.hpp"

namespace pvsim::hypervisor::server {

class DomainTable {
  public:
    DomainTable(std::string shm_tag, std::uint32_t grant_frames);

    // A new running domain with the next domid (0 for the first). Throws
    // std::runtime_error when the domids are used up, std::system_error when
    // its shared memory cannot be created.
    Domain& create(std::string name, std::uint64_t memory_bytes);

    // Running or dying; null when unknown.
    Domain* find(xen::DomId domid) const;
    // Running only: what lookups for new grants and bindings use (a dying
    // domain is gone for everyone but those that still map it).
    Domain* find_running(xen::DomId domid) const;
    // A running domain of that name, else a dying one, else null.
    Domain* find_by_name(std::string_view name) const;

    // Drops the record; its shared-memory objects are removed with it.
    void remove(xen::DomId domid);
    // Drops every dying domain no other domain maps any more; returns their
    // domids.
    std::vector<xen::DomId> reap_dying();
    // Drops every domain.
    void clear() { domains_.clear(); }

    const std::map<xen::DomId, std::unique_ptr<Domain>>& domains() const noexcept {
        return domains_;
    }
    const std::string& shm_tag() const noexcept { return shm_tag_; }
    std::uint32_t grant_frames() const noexcept { return grant_frames_; }

  private:
    std::string shm_tag_;
    std::uint32_t grant_frames_;
    std::uint32_t next_domid_ = 0;
    std::map<xen::DomId, std::unique_ptr<Domain>> domains_;
};

}  // namespace pvsim::hypervisor::server
