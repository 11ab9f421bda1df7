// A driver domain (xl.cfg's driver_domain=1, Xen's docs/misc/
// driverdomains.txt): a domain that runs the block backend for other guests'
// disks. `pvsim create NAME --driver-domain` starts pvsim-backend in it, with
// its own hypercall connection and its xenstore ring, and a DISKSPEC's
// backend=NAME puts the vbd under that domain's backend directory, as libxl
// does for disk backend=: the guest grants its pages to the driver domain,
// which maps them; dom0's blkback never sees the disk.
#include <gtest/gtest.h>

#include <string>

#include "common/xen/xs_permissions.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {
namespace {

class CliDriverDomainTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        const CliResult dd = run_.pvsim({"create", "dd", "--driver-domain"});
        ASSERT_EQ(dd.code, 0) << dd.err;
        ASSERT_EQ(dd.out, "1\n");
        const CliResult web = run_.pvsim({"create", "web"});
        ASSERT_EQ(web.code, 0) << web.err;
        image_ = run_.image("disk.img", 16 << 20);
    }

    std::string log(const std::string& name) const {
        return read_file(run_.dir() / (name + ".log"));
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliDriverDomainTest, ADriverDomainServesAGuestsDiskThatDom0NeverSees) {
    const CliResult attach =
        run_.pvsim({"block-attach", "web", "target=" + image_.string() + ",vdev=xvda,backend=dd"});
    ASSERT_EQ(attach.code, 0) << attach.err;

    const CliResult list = run_.pvsim({"block-list", "web", "--json"});
    ASSERT_EQ(list.code, 0) << list.err;
    const nlohmann::json vbd = list.json().at(0);
    EXPECT_EQ(vbd["backend_domid"], 1);
    EXPECT_EQ(vbd["frontend"]["name"], "Connected");
    EXPECT_EQ(vbd["backend"]["state"], 4);

    // libxl__device_generic_add: the backend directory belongs to the
    // backend domain, the guest may read it; the frontend directory belongs
    // to the guest, the backend domain may read it.
    auto xenstore = xenstore::client::Client::connect(RunDir::open(run_.dir()));
    const std::string backend = vbd["backend_path"];
    EXPECT_TRUE(backend.starts_with("/local/domain/1/backend/")) << backend;
    const xen::xs::Permissions backend_perms = xenstore.get_perms(backend);
    ASSERT_EQ(backend_perms.size(), 2u);
    EXPECT_EQ(backend_perms[0], (xen::xs::Permission{xen::xs::Access::none, 1}));
    EXPECT_EQ(backend_perms[1], (xen::xs::Permission{xen::xs::Access::read, 2}));
    EXPECT_EQ(xenstore.read("/local/domain/2/device/vbd/51712/backend-id"), "1");

    // Verified I/O through it: the guest's blkfront against the driver
    // domain's blkback, and the image holds what was written.
    const CliResult io = run_.pvsim({"io", "web", "xvda", "--rw", "randwrite", "--bs", "4k",
                                     "--size", "4M", "--verify", "crc32c"});
    ASSERT_EQ(io.code, 0) << io.out << io.err;
    const std::string bytes = read_file(image_).substr(0, 4 << 20);
    const bool written = bytes.find_first_not_of('\0') != std::string::npos;
    EXPECT_TRUE(written);

    // The driver domain's own pvsim-backend served it; dom0's never did.
    const std::string devid_path = "/backend/qdisk/2/51712";
    EXPECT_NE(log("pvsim-backend.dom1").find(devid_path + ": InitWait -> Connected"),
              std::string::npos)
        << log("pvsim-backend.dom1");
    EXPECT_EQ(log("pvsim-backend").find(devid_path), std::string::npos) << log("pvsim-backend");

    // The driver domain is not destroyed under the disk it serves, and has
    // no blkfront to attach to.
    const CliResult destroy = run_.pvsim({"destroy", "dd"});
    EXPECT_EQ(destroy.code, 1);
    EXPECT_NE(destroy.err.find("dd is the backend of web's xvda; block-detach them first"),
              std::string::npos)
        << destroy.err;
    const CliResult onto =
        run_.pvsim({"block-attach", "dd", "target=" + image_.string() + ",vdev=xvdb,access=ro"});
    EXPECT_EQ(onto.code, 1);
    EXPECT_NE(onto.err.find("dd is a driver domain"), std::string::npos) << onto.err;

    // Detached, it goes like any domain, and the run ends clean.
    ASSERT_EQ(run_.pvsim({"block-detach", "web", "xvda"}).code, 0);
    const CliResult gone = run_.pvsim({"destroy", "dd"});
    EXPECT_EQ(gone.code, 0) << gone.err;
    ASSERT_EQ(run_.pvsim({"down"}).code, 0);
    EXPECT_TRUE(run_.count().processes.empty());
    EXPECT_TRUE(run_.count().shared_memory.empty());
}

TEST_F(CliDriverDomainTest, AGuestThatRunsNoBackendIsRefusedAsABackend) {
    const CliResult attach =
        run_.pvsim({"block-attach", "web", "target=" + image_.string() + ",vdev=xvda,backend=web"});
    EXPECT_EQ(attach.code, 1);
    EXPECT_NE(attach.err.find("backend=web: a domain does not serve its own disk"),
              std::string::npos)
        << attach.err;
    ASSERT_EQ(run_.pvsim({"create", "other"}).code, 0);
    const CliResult plain = run_.pvsim(
        {"block-attach", "web", "target=" + image_.string() + ",vdev=xvda,backend=other"});
    EXPECT_EQ(plain.code, 1);
    EXPECT_NE(plain.err.find("backend=other: other runs no block backend"), std::string::npos)
        << plain.err;
}

}  // namespace
}  // namespace pvsim::test
