// What expect-clean counts as left by a dead guest
// (tools/toolstack/run_inventory.hpp left_by_dead_domains): guest processes
// and domain shared memory of no running domain; the daemons' own and the
// live domains' are not.
#include <gtest/gtest.h>

#include "tools/toolstack/run_inventory.hpp"

namespace pvsim::tools::toolstack {
namespace {

DomainRecord domain(xen::DomId domid, int pid) {
    DomainRecord record;
    record.domid = domid;
    record.name = "d" + std::to_string(domid);
    record.state = "running";
    record.pid = pid;
    return record;
}

TEST(LeftByDeadDomains, OnlyWhatNoLiveDomainOwns) {
    RunInventory inventory;
    inventory.processes = {{100, "pvsim-hypervisor"},
                           {101, "pvsim-xenstored"},
                           {102, "pvsim-backend"},
                           {200, "pvsim-guest"},
                           {300, "pvsim-guest"}};
    inventory.shared_memory = {"pvsim.abc123.dom0.memory", "pvsim.abc123.dom1.memory",
                               "pvsim.abc123.dom2.memory", "pvsim.abc123.dom12.grant-table",
                               "pvsim.abc123.hypervisor.shared-info"};
    inventory.sockets = {"/run/x/guest2.sock"};
    const std::vector<DomainRecord> live = {domain(0, 0), domain(1, 200)};
    const RunInventory left = left_by_dead_domains(inventory, live);
    ASSERT_EQ(left.processes.size(), 1u);
    EXPECT_EQ(left.processes[0].pid, 300);
    EXPECT_EQ(left.shared_memory, (std::vector<std::string>{"pvsim.abc123.dom2.memory",
                                                            "pvsim.abc123.dom12.grant-table"}));
    EXPECT_TRUE(left.sockets.empty());  // a killed process leaves its socket file
}

TEST(LeftByDeadDomains, NothingLeftWhenEveryOwnerLives) {
    RunInventory inventory;
    inventory.processes = {{7, "pvsim-guest"}};
    inventory.shared_memory = {"pvsim.t.dom3.memory", "pvsim.t.domains"};
    const RunInventory left = left_by_dead_domains(inventory, {domain(3, 7)});
    EXPECT_TRUE(left.empty()) << left.describe();
}

}  // namespace
}  // namespace pvsim::tools::toolstack
