// Where a run's processes may run: `pvsim create --cpus` (xl.cfg cpus=)
// pins a guest's process, `--dom0-cpus` (Xen's dom0_max_vcpus with
// dom0_vcpus_pin) pins dom0's backend, xenstored and monitor, and the
// hypervisor, the host's, stays anywhere. A ring's thread (the guest's
// completion thread, the backend's service loop) runs under SCHED_BATCH, as
// Xen's sched_ratelimit_us keeps a running vCPU from being preempted by
// every vCPU an event wakes; every other thread keeps the default policy.
// The kernel is the judge: each thread's Cpus_allowed_list in /proc and its
// sched_getscheduler(2).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <sstream>
#include <string>

#include "common/os/cpu_list.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/cpus_allowed.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/sched_policy.hpp"

namespace pvsim::test {
namespace cpus_test {

using ::testing::HasSubstr;

// The run's processes by program: {"pvsim-guest": pid, ...} (the last of
// each name).
std::map<std::string, pid_t> processes(const CliRun& run) {
    std::map<std::string, pid_t> found;
    for (const std::string& entry : run.count().processes) {
        std::istringstream words(entry);
        std::string program;
        pid_t pid = 0;
        words >> program >> pid;
        found[program] = pid;
    }
    return found;
}

// At least `rings` threads of `pid` run under SCHED_BATCH (its ring threads
// and, in a backend, the io_uring workers they started), and at least one
// (its control plane) under SCHED_OTHER, the only other policy.
void expect_ring_threads_batched(pid_t pid, std::size_t rings, const std::string& who) {
    std::size_t batched = 0;
    std::size_t others = 0;
    for (const auto& [tid, policy] : thread_sched_policies(pid)) {
        if (policy == SCHED_BATCH) {
            ++batched;
        } else {
            EXPECT_EQ(policy, SCHED_OTHER) << who << " thread " << tid;
            ++others;
        }
    }
    EXPECT_GE(batched, rings) << who;
    if (rings == 0) {
        EXPECT_EQ(batched, 0u) << who;
    }
    EXPECT_GE(others, 1u) << who << ": its control plane keeps the default policy";
}

// Every thread of `pid` may run on `cpus` alone.
void expect_every_thread_on(pid_t pid, const std::string& cpus, const std::string& who) {
    const std::map<pid_t, std::string> threads = thread_cpus_allowed_lists(pid);
    EXPECT_FALSE(threads.empty()) << who << " (pid " << pid << ") has no thread to read";
    for (const auto& [tid, allowed] : threads) {
        EXPECT_EQ(allowed, cpus) << who << " thread " << tid;
    }
}

TEST(CliCpusTest, ADomainsProcessesRunOnlyOnTheCpusTheToolstackNamedTheirRingThreadsBatched) {
    const os::CpuList host = os::CpuList::allowed();
    const std::string first = std::to_string(host.cpus().front());
    const std::string last = std::to_string(host.cpus().back());
    CliRun run;
    // io_uring's workers follow the cgroup's cpuset, not the process's
    // mask, unless the backend pins them too (IORING_REGISTER_IOWQ_AFF).
    const CliResult up = run.pvsim(
        {"--dom0-cpus", first, "--io-engine", "io_uring", "up", "--dom0-on-crash", "restart"});
    ASSERT_EQ(up.code, 0) << up.err;
    const CliResult create = run.pvsim({"create", "g", "--cpus", last});
    ASSERT_EQ(create.code, 0) << create.err;
    // A disk and a job on it give the guest and the backend their
    // data-plane threads, and the backend's io_uring whatever workers it
    // needs (they stay a few seconds after their last work).
    const auto image = run.image("disk.img", 8 << 20);
    const CliResult attach =
        run.pvsim({"block-attach", "g", "target=" + image.string() + ",vdev=xvda"});
    ASSERT_EQ(attach.code, 0) << attach.err;
    const CliResult io = run.pvsim({"io", "g", "xvda", "--rw", "randwrite", "--bs", "4k",
                                    "--iodepth", "16", "--size", "1M", "--sync", "1"});
    ASSERT_EQ(io.code, 0) << io.err;

    std::map<std::string, pid_t> found = processes(run);
    ASSERT_EQ(found.count("pvsim-guest"), 1u);
    expect_every_thread_on(found["pvsim-guest"], last, "the guest");
    for (const char* dom0 : {"pvsim-backend", "pvsim-xenstored", "pvsim-monitor"}) {
        ASSERT_EQ(found.count(dom0), 1u) << dom0;
        expect_every_thread_on(found[dom0], first, dom0);
    }
    expect_every_thread_on(found["pvsim-hypervisor"], host.to_string(), "the hypervisor");
    expect_ring_threads_batched(found["pvsim-guest"], 1, "the guest");
    expect_ring_threads_batched(found["pvsim-backend"], 1, "dom0's backend");
    for (const char* host_process : {"pvsim-hypervisor", "pvsim-xenstored", "pvsim-monitor"}) {
        expect_ring_threads_batched(found[host_process], 0, host_process);
    }
    // `list` shows where each domain runs, as the kernel has it.
    const CliResult list = run.pvsim({"list", "--json"});
    ASSERT_EQ(list.code, 0) << list.err;
    const nlohmann::json domains = list.json();
    ASSERT_EQ(domains.size(), 2u) << list.out;
    EXPECT_EQ(domains[0]["cpus"], first) << list.out;  // dom0: its backend's
    EXPECT_EQ(domains[1]["cpus"], last) << list.out;
    const CliResult table = run.pvsim({"list", "g"});
    EXPECT_THAT(table.out, HasSubstr("CPUs")) << table.out;
    EXPECT_THAT(table.out, HasSubstr(" " + last + "\n")) << table.out;

    // dom0's backend started again by its monitor runs where the first did.
    const pid_t old_backend = found["pvsim-backend"];
    ASSERT_EQ(::kill(old_backend, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] {
        found = processes(run);
        return found.count("pvsim-backend") == 1 && found["pvsim-backend"] != old_backend;
    }));
    expect_every_thread_on(found["pvsim-backend"], first, "the restarted backend");
}

TEST(CliCpusTest, ACpuListTheHostCannotRunIsRefusedBeforeAnythingStarts) {
    const os::CpuList host = os::CpuList::allowed();
    const std::string missing = std::to_string(host.cpus().back() + 1);
    CliRun run;
    const CliResult up = run.pvsim({"--dom0-cpus", missing, "up"});
    EXPECT_EQ(up.code, 2);
    EXPECT_THAT(up.err, HasSubstr("CPU " + missing + " is not one this host runs on (it has " +
                                  host.to_string() + ")"));
    EXPECT_TRUE(run.count().processes.empty());

    ASSERT_EQ(run.pvsim({"up"}).code, 0);
    for (const auto& [cpus, message] :
         std::vector<std::pair<std::string, std::string>>{{missing, "is not one this host runs on"},
                                                          {"0-x", "'0-x' is not a CPU"},
                                                          {"^all", "do not combine"},
                                                          {"0,^0", "leaves no CPU"}}) {
        const CliResult create = run.pvsim({"create", "g", "--cpus", cpus});
        EXPECT_EQ(create.code, 2) << cpus;
        EXPECT_THAT(create.err, HasSubstr(message)) << cpus;
    }
    const CliResult list = run.pvsim({"list", "--json"});
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_EQ(list.json().size(), 1u) << list.out;  // dom0 alone
}

}  // namespace cpus_test
}  // namespace pvsim::test
