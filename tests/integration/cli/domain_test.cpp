// pvsim create | destroy | list: guests come and go; every bad input gets a
// clear message, a non-zero exit, and changes nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {
namespace {

class CliDomainTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(run_.pvsim({"up"}).code, 0); }

    nlohmann::json domains() {
        const CliResult list = run_.pvsim({"list", "--json"});
        EXPECT_EQ(list.code, 0) << list.err;
        return list.json();
    }

    // The command fails, saying `message`, and the domains stay as they were.
    void refused(const std::vector<std::string>& args, const std::string& message) {
        const nlohmann::json before = domains();
        const CliResult result = run_.pvsim(args);
        EXPECT_NE(result.code, 0) << args[0];
        EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
        EXPECT_EQ(domains(), before);
    }

    CliRun run_;
};

TEST_F(CliDomainTest, CreateListDestroy) {
    const CliResult g1 = run_.pvsim({"create", "g1"});
    ASSERT_EQ(g1.code, 0) << g1.err;
    EXPECT_EQ(g1.out, "1\n");
    const CliResult g2 = run_.pvsim({"create", "g2", "--memory", "32M"});
    ASSERT_EQ(g2.code, 0) << g2.err;
    EXPECT_EQ(g2.out, "2\n");

    const nlohmann::json list = domains();
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[1]["name"], "g1");
    EXPECT_EQ(list[1]["memory"], 64u << 20);
    EXPECT_EQ(list[2]["name"], "g2");
    EXPECT_EQ(list[2]["domid"], 2);
    EXPECT_EQ(list[2]["memory"], 32u << 20);
    EXPECT_EQ(list[2]["state"], "running");
    EXPECT_EQ(list[2]["vbds"], 0);
    EXPECT_EQ(run_.count().processes.size(), 5u);

    const CliResult table = run_.pvsim({"list"});
    EXPECT_NE(table.out.find("Name"), std::string::npos);
    EXPECT_NE(table.out.find("g2"), std::string::npos);

    const CliResult destroy = run_.pvsim({"destroy", "g1"});
    ASSERT_EQ(destroy.code, 0) << destroy.err;
    const nlohmann::json after = domains();
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[1]["name"], "g2");
    EXPECT_EQ(run_.count().processes.size(), 4u);
    EXPECT_FALSE(std::filesystem::exists(run_.dir() / "guests" / "1.sock"));
    // Its xenstore home went with it.
    const CliResult home = run_.pvsim({"block-list", "g1"});
    EXPECT_NE(home.code, 0);
}

// A guest whose process dies is destroyed by the hypervisor (xl's default
// on_crash=destroy), and its disks go as libxl's domain-death handling takes
// them (libxl_domain_destroy -> libxl__devices_destroy): the next create or
// attach finds no backend of the dead domain left, so its images can be
// attached read-write again.
TEST_F(CliDomainTest, AGuestWhoseProcessDiedLeavesNoDiskBehindForItsSuccessor) {
    ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
    const auto xen_image = run_.image("xen.img", 8 << 20);
    const auto virtio_image = run_.image("virtio.img", 8 << 20);
    const std::string xen_spec = "target=" + xen_image.string() + ",vdev=xvda";
    const std::string virtio_spec =
        "target=" + virtio_image.string() + ",vdev=vda,specification=virtio";
    ASSERT_EQ(run_.pvsim({"block-attach", "g", xen_spec}).code, 0);
    ASSERT_EQ(run_.pvsim({"block-attach", "g", virtio_spec}).code, 0);

    pid_t guest = 0;
    for (const std::string& process : run_.count().processes) {
        if (process.starts_with("pvsim-guest ")) {
            guest = static_cast<pid_t>(std::stol(process.substr(12)));
        }
    }
    ASSERT_GT(guest, 0);
    ASSERT_EQ(::kill(guest, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return domains().size() == 1; }));

    const CliResult again = run_.pvsim({"create", "g"});
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(again.out, "2\n");
    auto xenstore = xenstore::client::Client::connect(RunDir::open(run_.dir()));
    EXPECT_FALSE(xenstore.try_read("/local/domain/1"));
    for (const char* kind : {"vbd", "qdisk", "vhost-user-blk"}) {
        EXPECT_FALSE(xenstore.try_read(std::string("/local/domain/0/backend/") + kind + "/1"))
            << kind;
    }
    const CliResult xen = run_.pvsim({"block-attach", "g", xen_spec});
    EXPECT_EQ(xen.code, 0) << xen.err;
    const CliResult virtio = run_.pvsim({"block-attach", "g", virtio_spec});
    EXPECT_EQ(virtio.code, 0) << virtio.err;
}

TEST_F(CliDomainTest, BadInputIsRefusedAndChangesNothing) {
    ASSERT_EQ(run_.pvsim({"create", "g1"}).code, 0);
    refused({"create", "g1"}, "g1");
    refused({"create", "bad/name"}, "only letters, digits");
    refused({"create", "123"}, "would read as a domid");
    refused({"create", "Domain-0"}, "domain 0's name");
    refused({"create", "g2", "--memory", "12Q"}, "12Q");
    refused({"create", "g2", "--memory", "100k"}, "--memory");
    // xl create's argument is a config file; pvsim's is a name.
    refused({"create", "vm.cfg"}, "looks like an xl config file");
    refused({"destroy", "nosuch"}, "no domain called \"nosuch\"");
    refused({"destroy", "dom0"}, "cannot be destroyed");
    refused({"frobnicate"}, "frobnicate");
}

// xl's memory= is in MiB, and `xl list NAME` lists that domain alone.
TEST_F(CliDomainTest, MemoryWithoutAUnitIsMibAndListTakesAName) {
    ASSERT_EQ(run_.pvsim({"create", "g1", "--memory", "96"}).code, 0);
    ASSERT_EQ(run_.pvsim({"create", "g2"}).code, 0);
    const CliResult one = run_.pvsim({"list", "g1", "--json"});
    ASSERT_EQ(one.code, 0) << one.err;
    ASSERT_EQ(one.json().size(), 1u) << one.out;
    EXPECT_EQ(one.json()[0]["name"], "g1");
    EXPECT_EQ(one.json()[0]["memory"], 96u << 20);
    const CliResult none = run_.pvsim({"list", "nosuch"});
    EXPECT_EQ(none.code, 1);
    EXPECT_NE(none.err.find("no domain called \"nosuch\""), std::string::npos) << none.err;
    const CliResult version = run_.pvsim({"--version"});
    EXPECT_EQ(version.code, 0);
    EXPECT_TRUE(version.out.starts_with("pvsim ")) << version.out;
}

}  // namespace
}  // namespace pvsim::test
