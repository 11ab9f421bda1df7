// pvsim block-attach | block-detach | block-list: xl's DISKSPEC, both ends
// Connected before attach returns, orderly and forced detach, and every
// kind of bad input refused with nothing changed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <map>

#include "tests/integration/cli/cli_run.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {
namespace {

class CliBlockTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("disk.img", 16 << 20);
    }

    nlohmann::json vbds() {
        const CliResult list = run_.pvsim({"block-list", "g", "--json"});
        EXPECT_EQ(list.code, 0) << list.err;
        return list.json();
    }

    // Every node under dom0's backend directory and the guest's device
    // directory, read from xenstore itself (in this process: a refused
    // command is checked without starting two more programs).
    std::map<std::string, std::string> vbd_nodes() {
        auto xenstore = xenstore::client::Client::connect(RunDir::open(run_.dir()));
        std::map<std::string, std::string> nodes;
        std::vector<std::string> pending = {"/local/domain/0/backend", "/local/domain/1/device"};
        while (!pending.empty()) {
            const std::string path = pending.back();
            pending.pop_back();
            const auto value = xenstore.try_read(path);
            if (!value) {
                continue;
            }
            nodes[path] = *value;
            for (const std::string& child : xenstore.directory(path)) {
                pending.push_back(path + "/" + child);
            }
        }
        return nodes;
    }

    void refused(const std::vector<std::string>& args, const std::string& message) {
        const auto before = vbd_nodes();
        const CliResult result = run_.pvsim(args);
        EXPECT_NE(result.code, 0) << args.back();
        EXPECT_NE(result.err.find(message), std::string::npos) << args.back() << ": " << result.err;
        EXPECT_EQ(vbd_nodes(), before) << args.back();
    }

    std::string spec(const std::string& rest = "vdev=xvda") const {
        return "target=" + image_.string() + "," + rest;
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliBlockTest, AttachListDetach) {
    const CliResult attach = run_.pvsim({"block-attach", "g", spec()});
    ASSERT_EQ(attach.code, 0) << attach.err;
    const nlohmann::json list = vbds();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["vdev"], "xvda");
    EXPECT_EQ(list[0]["devid"], 51712);
    EXPECT_EQ(list[0]["target"], image_.string());
    EXPECT_EQ(list[0]["access"], "rw");
    EXPECT_EQ(list[0]["backend_domid"], 0);
    EXPECT_EQ(list[0]["frontend"]["name"], "Connected");
    EXPECT_EQ(list[0]["backend"]["state"], 4);
    EXPECT_EQ(list[0]["features"]["flush-cache"], true);

    const CliResult table = run_.pvsim({"block-list", "g"});
    EXPECT_NE(table.out.find("xvda"), std::string::npos);
    EXPECT_NE(table.out.find("Connected"), std::string::npos);

    // xl's own order (target last) and positional items work too.
    const auto second = run_.image("second.img", 4 << 20);
    ASSERT_EQ(
        run_.pvsim({"block-attach", "g", "vdev=xvdb,access=ro,target=" + second.string()}).code, 0);
    ASSERT_EQ(run_.pvsim({"block-attach", "g", second.string() + ",raw,xvdc,r"}).code, 0);
    const nlohmann::json three = vbds();
    ASSERT_EQ(three.size(), 3u);
    EXPECT_EQ(three[1]["access"], "ro");
    EXPECT_EQ(three[2]["vdev"], "xvdc");

    for (const char* vdev : {"xvda", "xvdb", "xvdc"}) {
        const CliResult detach = run_.pvsim({"block-detach", "g", vdev});
        ASSERT_EQ(detach.code, 0) << detach.err;
    }
    EXPECT_TRUE(vbds().empty());
    const auto list_all = run_.pvsim({"list", "--json"}).json();
    EXPECT_EQ(list_all[1]["vbds"], 0);
}

TEST_F(CliBlockTest, BadInputIsRefusedAndChangesNothing) {
    ASSERT_EQ(run_.pvsim({"block-attach", "g", spec()}).code, 0);
    refused({"block-attach", "nosuch", spec("vdev=xvdb")}, "no domain called \"nosuch\"");
    refused({"block-attach", "g", spec("vdev=xvda")}, "vdev xvda of g is in use");
    refused({"block-attach", "g", "target=/nonexistent/disk.img,vdev=xvdb"},
            "/nonexistent/disk.img: No such file or directory");
    refused({"block-attach", "g", spec("vdev=xvdb,foo=1")}, "unknown key \"foo\"");
    refused({"block-attach", "g", spec("vdev=xvdb,access=rx")}, "access=rx");
    refused({"block-attach", "g", "target=" + image_.string()}, "no vdev");
    refused({"block-attach", "g", spec("vdev=xvd1")}, "xvd1");
    refused({"block-attach", "g", spec("vdev=xvdb,format=qcow2")}, "format=qcow2");
    refused({"block-attach", "g", spec("vdev=xvdb,specification=virtio")},
            "a virtio disk is named vd");
    refused({"block-attach", "g", spec("vdev=xvdb,ring-page-order=9")}, "ring-page-order=9");
    refused({"block-attach", "g", spec("vdev=xvdb,backend-max-indirect-segments=512")},
            "backend-max-indirect-segments=512");
    refused({"block-attach", "g", spec("vdev=xvdb,frontend-grant-mode=copy")},
            "grant-mode is the backend's");
    refused({"block-attach", "g", spec("vdev=xvdb,persistent=maybe")}, "persistent=maybe");
    refused({"block-attach", "g", spec("vdev=xvdb,trusted=maybe")}, "trusted=maybe");
    refused({"block-attach", "g", spec("vdev=xvdb,trusted,untrusted")}, "\"trusted\" given twice");
    refused({"block-attach", "g", "target=/dev/null,vdev=xvdb"}, "not a regular file");
    refused({"block-attach", "g", spec("vdev=xvdb,backend=g")}, "does not serve its own disk");
    refused({"block-detach", "g", "xvdb"}, "g has no vdev xvdb");
    refused({"block-detach", "nosuch", "xvda"}, "no domain called");
}

TEST_F(CliBlockTest, FeatureKeysBecomeEachEndsConfigurationNodes) {
    const CliResult attach =
        run_.pvsim({"block-attach", "g",
                    spec("vdev=xvda,persistent=off,frontend-queues=1,backend-queues=2,"
                         "backend-ring-page-order=1,max-indirect-segments=64,no-discard,flush=on,"
                         "barrier=off,grant-mode=copy")});
    ASSERT_EQ(attach.code, 0) << attach.err;
    auto xenstore = xenstore::client::Client::connect(RunDir::open(run_.dir()));
    // An image file: the qdisk backend's directory (disk_backend.hpp).
    const std::string back = "/local/domain/0/backend/qdisk/1/51712/";
    const std::string front = "/local/domain/1/device/vbd/51712/";
    const std::vector<std::pair<std::string, std::string>> expected = {
        {back + "pvsim-feature-persistent", "0"},      {back + "pvsim-max-queues", "2"},
        {back + "pvsim-max-ring-page-order", "1"},     {back + "pvsim-max-indirect-segments", "64"},
        {back + "pvsim-feature-discard", "0"},         {back + "pvsim-feature-flush-cache", "1"},
        {back + "pvsim-feature-barrier", "0"},         {back + "pvsim-grant-mode", "copy"},
        {front + "pvsim-feature-persistent", "0"},     {front + "pvsim-max-queues", "1"},
        {front + "pvsim-max-indirect-segments", "64"}, {front + "pvsim-feature-discard", "0"},
        {front + "pvsim-feature-flush-cache", "1"},    {front + "pvsim-feature-barrier", "0"},
    };
    for (const auto& [node, value] : expected) {
        EXPECT_EQ(xenstore.try_read(node), value) << node;
    }
    // Not given for that end: not written (the end's default stands).
    EXPECT_FALSE(xenstore.try_read(front + "pvsim-max-ring-page-order").has_value());
    EXPECT_FALSE(xenstore.try_read(front + "pvsim-grant-mode").has_value());
    // And no configuration node without a key for it.
    const auto second = run_.image("second.img", 4 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g", "target=" + second.string() + ",vdev=xvdb"}).code,
              0);
    for (const std::string& dir : {std::string("/local/domain/0/backend/qdisk/1/51728"),
                                   std::string("/local/domain/1/device/vbd/51728")}) {
        for (const std::string& child : xenstore.directory(dir)) {
            EXPECT_FALSE(child.starts_with("pvsim-")) << dir << "/" << child;
        }
    }
}

// xl's untrusted (Xen 4.17+): libxl writes trusted=0 in the frontend's
// directory, and blkfront bounces (Linux 5.19+); trusted, the default, is 1.
TEST_F(CliBlockTest, UntrustedWritesTrustedZeroAndBlockListShowsTheBounce) {
    const auto b = run_.image("b.img", 4 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g", spec("vdev=xvda,persistent=off,untrusted")}).code,
              0);
    ASSERT_EQ(
        run_.pvsim({"block-attach", "g", "target=" + b.string() + ",vdev=xvdb,persistent=off"})
            .code,
        0);
    auto xenstore = xenstore::client::Client::connect(RunDir::open(run_.dir()));
    EXPECT_EQ(xenstore.try_read("/local/domain/1/device/vbd/51712/trusted"), "0");
    EXPECT_EQ(xenstore.try_read("/local/domain/1/device/vbd/51728/trusted"), "1");
    const nlohmann::json list = vbds();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["features"]["bounce"], true) << list[0];
    EXPECT_EQ(list[1]["features"]["bounce"], false) << list[1];
    const CliResult table = run_.pvsim({"block-list", "g"});
    EXPECT_NE(table.out.find("bounce"), std::string::npos) << table.out;
}

TEST_F(CliBlockTest, BlockListShowsWhatBothEndsNegotiated) {
    const auto b = run_.image("b.img", 4 << 20);
    const auto c = run_.image("c.img", 4 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          spec("vdev=xvda,persistent=off,max-indirect-segments=64,"
                               "ring-page-order=2,queues=2,grant-mode=copy,no-discard")})
                  .code,
              0);
    // Offered by one end only: not in use.
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          "target=" + b.string() +
                              ",vdev=xvdb,frontend-persistent=off,backend-max-indirect-segments=8,"
                              "frontend-queues=1,backend-queues=4"})
                  .code,
              0);
    // Linux's defaults at both ends.
    ASSERT_EQ(run_.pvsim({"block-attach", "g", "target=" + c.string() + ",vdev=xvdc"}).code, 0);
    const nlohmann::json list = vbds();
    ASSERT_EQ(list.size(), 3u);
    const nlohmann::json& a = list[0]["features"];
    // Typed: on/off features booleans, counts numbers, modes strings.
    EXPECT_EQ(a["persistent"], false) << a;
    EXPECT_EQ(a["indirect-segments"], 64) << a;
    EXPECT_EQ(a["ring-page-order"], 2) << a;
    EXPECT_EQ(a["queues"], 2) << a;
    EXPECT_EQ(a["grant-mode"], "copy") << a;
    EXPECT_EQ(a["discard"], false) << a;
    const nlohmann::json& one_end = list[1]["features"];
    EXPECT_EQ(one_end["persistent"], false) << one_end;
    EXPECT_EQ(one_end["indirect-segments"], 0) << one_end;
    EXPECT_EQ(one_end["queues"], 1) << one_end;
    EXPECT_EQ(one_end["grant-mode"], "map") << one_end;
    const nlohmann::json& linux = list[2]["features"];
    EXPECT_EQ(linux["persistent"], true) << linux;
    EXPECT_EQ(linux["indirect-segments"], 32) << linux;
    EXPECT_EQ(linux["ring-page-order"], 0) << linux;
    EXPECT_EQ(linux["grant-mode"], "map") << linux;
    // The table names what is on.
    const CliResult table = run_.pvsim({"block-list", "g"});
    EXPECT_NE(table.out.find("grant-mode=copy"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("indirect-segments=64"), std::string::npos) << table.out;
}

TEST_F(CliBlockTest, ReadWriteAccessToAFileThatIsNotWritableIsRefused) {
    const auto readonly = run_.image("readonly.img", 4 << 20);
    ASSERT_EQ(::chmod(readonly.c_str(), 0444), 0);
    const std::string disk = "target=" + readonly.string() + ",vdev=xvdb";
    std::vector<std::string> args = {PVSIM_CLI,      "--run-dir", run_.dir().string(),
                                     "block-attach", "g",         disk};
    if (::geteuid() == 0) {
        // root writes any file: drop the capability that lets it, for the CLI.
        args.insert(args.begin(), {"--bounding-set", "-dac_override", "--"});
        args.insert(args.begin(), "setpriv");
    }
    const std::string program = ::geteuid() == 0 ? "/usr/bin/setpriv" : PVSIM_CLI;
    args.erase(args.begin());
    const CliResult result = [&] {
        const auto out = run_.scratch() / "ro.out";
        const auto err = run_.scratch() / "ro.err";
        const std::string command = program + " " +
                                    [&] {
                                        std::string joined;
                                        for (const auto& a : args) {
                                            joined += "'" + a + "' ";
                                        }
                                        return joined;
                                    }() +
                                    "> " + out.string() + " 2> " + err.string();
        const int status = std::system(command.c_str());
        return CliResult{WEXITSTATUS(status), read_file(out), read_file(err)};
    }();
    EXPECT_NE(result.code, 0);
    EXPECT_NE(result.err.find("access=rw needs it writable"), std::string::npos) << result.err;
    EXPECT_TRUE(vbds().empty());
    // access=ro attaches it.
    const CliResult ro = run_.pvsim({"block-attach", "g", disk + ",access=ro"});
    EXPECT_EQ(ro.code, 0) << ro.err;
}

// xl since Xen 4.15 (main_blockdetach: libxl_device_disk_safe_remove without
// -f, libxl_device_disk_destroy with it): a detach the backend never answers
// fails after LIBXL_DESTROY_TIMEOUT (10 s) and changes nothing; only
// --force removes the vbd.
TEST_F(CliBlockTest, DetachWithoutABackendNeedsForce) {
    ASSERT_EQ(run_.pvsim({"block-attach", "g", spec()}).code, 0);
    // dom0's backend is gone: nothing will close the vbd.
    const std::string pid = read_file(run_.dir() / "pvsim-backend.pid");
    ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
    ASSERT_TRUE(
        eventually([&] { return run_.count().processes.size() == 3; }, std::chrono::seconds(10)));

    const CliResult orderly = run_.pvsim({"block-detach", "g", "xvda"});
    EXPECT_NE(orderly.code, 0);
    EXPECT_NE(orderly.err.find("--force"), std::string::npos) << orderly.err;
    const CliResult forced = run_.pvsim({"block-detach", "g", "xvda", "--force"});
    EXPECT_EQ(forced.code, 0) << forced.err;
    EXPECT_TRUE(vbds().empty());
}

}  // namespace
}  // namespace pvsim::test
