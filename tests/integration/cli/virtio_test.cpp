// The virtio path through the CLI (DESIGN.md §6, §7): block-attach with
// specification=virtio over pvsim's vhost-user-blk device and over a real
// qemu-storage-daemon export, verified I/O with `pvsim io`, an orderly
// detach, the same seeded workload leaving byte-identical images over the
// Xen variants and virtio, and the per-request counts of each transport.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/integration/cli/export_process.hpp"
#include "tests/integration/cli/qsd_process.hpp"

namespace pvsim::test {
namespace {

std::string file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class CliVirtioTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("disk.img", 8 << 20);
    }

    CliResult attach(const std::string& spec) { return run_.pvsim({"block-attach", "g", spec}); }

    CliResult io(const std::string& vdev, std::vector<std::string> options) {
        options.insert(options.begin(), {"io", "g", vdev});
        options.push_back("--json");
        return run_.pvsim(options);
    }

    void refused(const std::string& spec, const std::string& message) {
        const CliResult result = attach(spec);
        EXPECT_NE(result.code, 0) << spec;
        EXPECT_NE(result.err.find(message), std::string::npos)
            << spec << " -> " << result.err << " (expected: " << message << ")";
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliVirtioTest, PvsimDeviceServesVerifiedIoAndDetachesCleanly) {
    const CliResult attached =
        attach("target=" + image_.string() + ",vdev=vda,specification=virtio,queues=2");
    ASSERT_EQ(attached.code, 0) << attached.err;

    const CliResult table = run_.pvsim({"block-list", "g"});
    ASSERT_EQ(table.code, 0) << table.err;
    EXPECT_NE(table.out.find("vda"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("virtio"), std::string::npos) << table.out;
    // The device up, in the one spelling of states (Linux's xenbus_strstate).
    EXPECT_NE(table.out.find(" Connected "), std::string::npos) << table.out;
    EXPECT_EQ(table.out.find("connected"), std::string::npos) << table.out;
    const CliResult listed = run_.pvsim({"block-list", "g", "--json"});
    ASSERT_EQ(listed.code, 0) << listed.err;
    const nlohmann::json disks = listed.json();
    ASSERT_EQ(disks.size(), 1u) << disks.dump();
    EXPECT_EQ(disks[0]["specification"], "virtio");
    EXPECT_EQ(disks[0]["transport"], "virtio");
    EXPECT_EQ(disks[0]["target"], image_.string());
    EXPECT_EQ(disks[0]["hotplug_status"], "connected");  // the node's own value, as libxl's
    EXPECT_EQ(disks[0]["features"]["queues"], 2);
    const std::string socket = disks[0]["vhost_user"].get<std::string>();
    EXPECT_TRUE(std::filesystem::exists(socket)) << socket;

    const CliResult write = io("vda", {"--rw", "randwrite", "--bs", "4k", "--size", "2M",
                                       "--iodepth", "8", "--seed", "5", "--verify", "crc32c"});
    ASSERT_EQ(write.code, 0) << write.err;
    const nlohmann::json out = write.json();
    EXPECT_EQ(out["pvsim"]["transport"], "virtio");
    EXPECT_EQ(out["jobs"][0]["write"]["total_ios"], 512);
    const nlohmann::json counts = out["pvsim"]["counts"];
    // The writes, then verify's read-back of each (as fio's verify phase).
    EXPECT_EQ(counts["requests"], 1024);
    EXPECT_EQ(counts["grant_ops"], 0);
    EXPECT_EQ(counts["data_copies"], 0);

    const CliResult read = io("vda", {"--rw", "read", "--bs", "64k", "--size", "2M", "--iodepth",
                                      "4", "--verify", "crc32c"});
    ASSERT_EQ(read.code, 0) << read.err;
    EXPECT_EQ(read.json()["jobs"][0]["pvsim"]["verify"]["blocks_checked"], 32);
    // fio's --sync=1: a FUA write, and virtio-blk has no FUA, so each write
    // is followed by a VIRTIO_BLK_T_FLUSH (blk_flush_policy's POSTFLUSH);
    // then verify reads each block back.
    const CliResult sync = io("vda", {"--rw", "randwrite", "--bs", "4k", "--size", "256k",
                                      "--iodepth", "4", "--sync", "1", "--verify", "crc32c"});
    ASSERT_EQ(sync.code, 0) << sync.err;
    EXPECT_EQ(sync.json()["pvsim"]["counts"]["requests"], 3 * 64) << sync.out;
    EXPECT_EQ(sync.json()["pvsim"]["counts"]["flushes"], 64) << sync.out;

    const CliResult detached = run_.pvsim({"block-detach", "g", "vda"});
    ASSERT_EQ(detached.code, 0) << detached.err;
    EXPECT_FALSE(std::filesystem::exists(socket));
    const CliResult empty = run_.pvsim({"block-list", "g", "--json"});
    EXPECT_EQ(empty.json().size(), 0u) << empty.out;

    // The guest remembers what it wrote to vda: a re-attach reads it back.
    ASSERT_EQ(attach("target=" + image_.string() + ",vdev=vda,specification=virtio").code, 0);
    const CliResult again = io("vda", {"--rw", "randread", "--bs", "4k", "--size", "2M",
                                       "--iodepth", "16", "--verify", "crc32c"});
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(again.json()["jobs"][0]["pvsim"]["verify"]["blocks_checked"], 512);
    // list's disk count takes the virtio disk in.
    const nlohmann::json domains = run_.pvsim({"list", "g", "--json"}).json();
    EXPECT_EQ(domains[0]["virtio_disks"], 1) << domains.dump();
    EXPECT_EQ(domains[0]["vbds"], 0) << domains.dump();
    EXPECT_NE(run_.pvsim({"list"}).out.find("Disks"), std::string::npos);
    EXPECT_EQ(run_.pvsim({"destroy", "g"}).code, 0);
    EXPECT_FALSE(std::filesystem::exists(socket));
}

TEST_F(CliVirtioTest, BadInputIsRefusedAndLeavesNothing) {
    const std::string target = "target=" + image_.string();
    refused(target + ",vdev=vda,specification=virtio,persistent=on", "Xen blkif feature");
    refused(target + ",vdev=vda,specification=virtio,grant-mode=copy", "Xen blkif feature");
    refused(target + ",vdev=vda,specification=virtio,backend-queues=2", "Xen blkif feature");
    refused(target + ",vdev=vda,specification=virtio,queues=17", "queues=17");
    refused(target + ",vdev=xvda,specification=virtio", "a virtio disk is named vd");
    refused(target + ",vdev=vda", "vda");
    refused("vdev=vda,specification=virtio", "no target");
    refused("vdev=vda,specification=virtio,vhost-user=" + run_.file("none.sock").string(),
            "No such file or directory");
    refused(target + ",vdev=vda,specification=virtio,vhost-user=/x.sock", "give one of them");
    refused("vdev=vda,vhost-user=/x.sock", "only with specification=virtio");
    refused("target=/nonexistent.img,vdev=vda,specification=virtio", "No such file");
    const CliResult listed = run_.pvsim({"block-list", "g", "--json"});
    EXPECT_EQ(listed.json().size(), 0u) << listed.out;

    ASSERT_EQ(attach(target + ",vdev=vda,specification=virtio").code, 0);
    refused(target + ",vdev=vda,specification=virtio", "vdev vda of g is in use");
    const CliResult missing = run_.pvsim({"block-detach", "g", "vdb"});
    EXPECT_NE(missing.code, 0);
    EXPECT_NE(missing.err.find("has no vdev vdb"), std::string::npos) << missing.err;
}

TEST_F(CliVirtioTest, QemuStorageDaemonServesVerifiedIoThroughTheCli) {
    // `make test` installs it (scripts/install-deps.sh): missing, it is a
    // failure, not a reason to pass without the real device.
    ASSERT_EQ(::access(kQemuStorageDaemon, X_OK), 0)
        << kQemuStorageDaemon
        << " is missing: install Debian's qemu-system-common (`make test` installs it)";
    QsdProcess qsd(image_, run_.file("qsd.sock"), run_.file("qsd.log"));
    const CliResult attached =
        attach("vdev=vdb,specification=virtio,vhost-user=" + qsd.socket().string());
    ASSERT_EQ(attached.code, 0) << attached.err;
    const CliResult table = run_.pvsim({"block-list", "g"});
    EXPECT_NE(table.out.find("virtio (vhost-user " + qsd.socket().string() + ")"),
              std::string::npos)
        << table.out;

    const CliResult write = io("vdb", {"--rw", "randwrite", "--bs", "4k", "--size", "1M",
                                       "--iodepth", "8", "--seed", "9", "--verify", "crc32c"});
    ASSERT_EQ(write.code, 0) << write.err;
    const nlohmann::json counts = write.json()["pvsim"]["counts"];
    EXPECT_EQ(counts["requests"], 512);  // writes and verify's read-back
    EXPECT_EQ(counts["hypercalls"], 0);
    EXPECT_EQ(counts["grant_ops"], 0);
    const CliResult read = io("vdb", {"--rw", "read", "--bs", "16k", "--size", "1M", "--iodepth",
                                      "4", "--verify", "crc32c"});
    ASSERT_EQ(read.code, 0) << read.err;
    EXPECT_EQ(read.json()["jobs"][0]["pvsim"]["verify"]["blocks_checked"], 64);

    ASSERT_EQ(run_.pvsim({"block-detach", "g", "vdb"}).code, 0);
    // An external device is not the toolstack's: its socket stays.
    EXPECT_TRUE(std::filesystem::exists(qsd.socket()));
    EXPECT_EQ(run_.pvsim({"block-list", "g", "--json"}).json().size(), 0u);
}

// pvsim's own virtio-blk driver against `pvsim export`, the device run on
// its own: the pairing beside pvsim-backend's device, qemu-storage-daemon's,
// and a Linux guest's driver (tests/integration/linux_guest).
TEST_F(CliVirtioTest, PvsimsDriverServesVerifiedIoThroughPvsimExport) {
    const auto socket = run_.file("export.sock");
    ExportProcess device(run_.file("export.log"),
                         {"--target", image_.string(), "--socket", socket.string()});
    const CliResult attached =
        attach("vdev=vdb,specification=virtio,vhost-user=" + socket.string());
    ASSERT_EQ(attached.code, 0) << attached.err;
    const CliResult write = io("vdb", {"--rw", "randwrite", "--bs", "4k", "--size", "1M",
                                       "--iodepth", "8", "--seed", "5", "--verify", "crc32c"});
    ASSERT_EQ(write.code, 0) << write.err;
    EXPECT_EQ(write.json()["pvsim"]["counts"]["requests"], 512);  // writes and the read-back
    const CliResult read = io("vdb", {"--rw", "read", "--bs", "16k", "--size", "1M", "--iodepth",
                                      "4", "--verify", "crc32c"});
    ASSERT_EQ(read.code, 0) << read.err;
    EXPECT_EQ(read.json()["jobs"][0]["pvsim"]["verify"]["blocks_checked"], 64);
    ASSERT_EQ(run_.pvsim({"block-detach", "g", "vdb"}).code, 0);
    const os::ExitStatus stopped = device.stop();
    EXPECT_TRUE(stopped.success()) << stopped.describe() << "\n" << device.log();
    EXPECT_FALSE(std::filesystem::exists(socket));
}

TEST_F(CliVirtioTest, OneSeededWorkloadLeavesIdenticalImagesOverEveryTransport) {
    struct Path {
        std::string vdev;
        std::string spec;  // beyond target and vdev
    };
    const std::vector<Path> paths = {{"xvda", "persistent=off"},
                                     {"xvdb", "persistent=on"},
                                     {"xvdc", "persistent=off,grant-mode=copy"},
                                     {"vda", "specification=virtio"}};
    std::vector<std::filesystem::path> images;
    for (const Path& path : paths) {
        images.push_back(run_.image(path.vdev + ".img", 8 << 20));
        const CliResult attached =
            attach("target=" + images.back().string() + ",vdev=" + path.vdev + "," + path.spec);
        ASSERT_EQ(attached.code, 0) << path.vdev << ": " << attached.err;
    }
    for (const Path& path : paths) {
        const CliResult write =
            io(path.vdev, {"--rw", "randwrite", "--bs", "4k", "--size", "4M", "--iodepth", "32",
                           "--seed", "1234", "--verify", "crc32c"});
        ASSERT_EQ(write.code, 0) << path.vdev << ": " << write.err;
        const nlohmann::json counts = write.json()["pvsim"]["counts"];
        EXPECT_EQ(counts["requests"], 2048) << path.vdev;  // writes and verify's reads
        const double to_backend = counts["per_request"]["notifications_to_backend"];
        const double to_frontend = counts["per_request"]["notifications_to_frontend"];
        // Each push (of a batch of requests, or of responses) notifies at
        // most once and carries at least one request or response. How many
        // it carries depends on the speed of either end, so no lower
        // figure is asserted.
        EXPECT_LE(to_frontend, 1.0) << path.vdev << " " << counts.dump();
        EXPECT_LE(to_backend, 1.0) << path.vdev << " " << counts.dump();
        if (path.vdev == "vda") {
            EXPECT_EQ(counts["hypercalls"], 0) << counts.dump();
            EXPECT_EQ(counts["grant_ops"], 0) << counts.dump();
        } else {
            EXPECT_GT(counts["hypercalls"].get<std::uint64_t>(), 0u) << counts.dump();
        }
    }
    // Detached first, so that every write reached the image files.
    for (const Path& path : paths) {
        ASSERT_EQ(run_.pvsim({"block-detach", "g", path.vdev}).code, 0) << path.vdev;
    }
    const std::string reference = file_bytes(images[0]);
    ASSERT_EQ(reference.size(), 8u << 20);
    EXPECT_NE(reference, std::string(reference.size(), '\0'));
    for (std::size_t i = 1; i < images.size(); ++i) {
        EXPECT_TRUE(file_bytes(images[i]) == reference)
            << paths[i].vdev << "'s image differs from " << paths[0].vdev << "'s";
    }
}

}  // namespace
}  // namespace pvsim::test
