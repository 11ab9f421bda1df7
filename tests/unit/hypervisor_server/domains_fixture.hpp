// A DomainTable of real shared-memory domains with a run tag of its own, so
// tests running in parallel never meet, and functions that grant the way a
// guest does (grant_table.h: domid and frame, then flags).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "common/os/shared_memory.hpp"
#include "common/xen/grant_table.hpp"
#include "hypervisor/server/domain_table.hpp"

namespace pvsim::hypervisor::server::test {

inline std::string unique_shm_tag() {
    static std::atomic<int> counter{0};
    return "unit" + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

class DomainsFixture : public ::testing::Test {
  protected:
    static constexpr std::uint32_t kGrantFrames = 2;
    static constexpr std::uint64_t kMemory = 64 * 4096;

    DomainsFixture()
        : tag_(unique_shm_tag()),
          domains_(tag_, kGrantFrames),
          dom0_(domains_.create("Domain-0", kMemory)),
          guest_(domains_.create("guest", kMemory)),
          other_(domains_.create("other", kMemory)) {}

    ~DomainsFixture() override {
        domains_.clear();
        EXPECT_TRUE(os::list_run_shm(tag_).empty());
    }

    // `granter` lets `grantee` access `frame` through `ref`.
    static void grant(Domain& granter, xen::GrantRef ref, xen::DomId grantee, std::uint32_t frame,
                      bool readonly) {
        xen::grant_entry_publish(
            granter.grant_entries()[ref], grantee, frame,
            static_cast<std::uint16_t>(xen::kGtfPermitAccess | (readonly ? xen::kGtfReadonly : 0)));
    }
    static std::uint16_t flags(Domain& granter, xen::GrantRef ref) {
        return xen::grant_flags(granter.grant_entries()[ref]).load();
    }

    std::string tag_;
    DomainTable domains_;
    Domain& dom0_;
    Domain& guest_;
    Domain& other_;
};

}  // namespace pvsim::hypervisor::server::test
