// A real Linux kernel's virtio-blk driver (Debian 12's 6.1, its virtio
// modules loaded from an initramfs the test builds) drives `pvsim export
// vhost-user-blk` through QEMU's vhost-user-blk-pci: the disk has the
// exported size and queue count, O_DIRECT and scattered writes read back,
// sync flushes, blkdiscard discards, a read-only export is a read-only disk,
// the image holds exactly the guest's bytes once the guest is off, and I/O
// resumes when the export restarts under QEMU's reconnect=. The guest's
// /init runs the checks and prints one "PVSIM <check>=<result>" line each
// on the serial console.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guest_kit.hpp"
#include "initramfs.hpp"
#include "qemu_guest.hpp"
#include "tests/integration/cli/export_process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/cli/qsd_device.hpp"

namespace linux_guest_test {

using namespace pvsim::test;

constexpr std::uint64_t kBlock = 4096;
constexpr std::uint64_t kImageBlocks = 2048;  // 8 MiB, 16384 sectors
constexpr std::uint64_t kDataBlocks = 16;     // /data/host.bin and /data/guest.bin
// Where the guest writes /data/guest.bin whole with O_DIRECT.
constexpr std::uint64_t kDirectBlock = 256;
// One 4 KiB block of /data/guest.bin each (the n-th to the n-th place).
constexpr std::array<std::uint64_t, 6> kScatteredBlocks = {3, 1000, 17, 1500, 512, 2047};
// A buffered write of guest block 5, then sync.
constexpr std::uint64_t kSyncedBlock = 700;
constexpr std::uint64_t kSyncedSource = 5;
// blkdiscard's range: 256 KiB at 4 MiB.
constexpr std::uint64_t kDiscardBlock = 1024;
constexpr std::uint64_t kDiscardBlocks = 64;
constexpr auto kBootLimit = std::chrono::seconds(50);

std::string pattern(std::uint64_t size, unsigned seed) {
    std::string out(size, '\0');
    std::uint32_t x = seed;
    for (auto& c : out) {
        x = x * 1664525u + 1013904223u;  // Numerical Recipes' LCG
        c = static_cast<char>(x >> 24);
    }
    return out;
}

// What every guest does first: busybox's applets, /proc, /sys, /dev, the
// virtio modules in order, the disk; and then its size, queues and
// read-only flag, and whether it reads the host's bytes.
const char* const kInitPrelude = R"sh(#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
report() { echo "PVSIM $1=$2"; }
check() {
    name=$1; shift
    if "$@" > /tmp/check.log 2>&1; then report "$name" ok
    else report "$name" "FAIL $(tail -c 300 /tmp/check.log | tr '\n' ' ')"; fi
}
for m in $(cat /modules/order); do insmod "/modules/$m" || report "insmod $m" FAIL; done
i=0
while [ ! -e /sys/block/vda ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
report size "$(cat /sys/block/vda/size)"
report queues "$(ls /sys/block/vda/mq | wc -l)"
report ro "$(cat /sys/block/vda/ro)"
report write_cache "$(cat /sys/block/vda/queue/write_cache)"
check host_bytes sh -c 'dd if=/dev/vda bs=4096 count=16 iflag=direct 2>/dev/null | cmp - /data/host.bin'
)sh";
const char* const kInitEnd = R"sh(report done yes
poweroff -f
)sh";

// Writes `count` blocks of guest.bin from `from` at `to` with O_DIRECT and
// reads them back the same way: a shell function of the guest's.
const char* const kWriteAndReadBack = R"sh(write_and_read_back() {
    dd if=/data/guest.bin of=/dev/vda bs=4096 skip=$1 seek=$2 count=$3 conv=notrunc oflag=direct &&
    dd if=/dev/vda of=/tmp/got bs=4096 skip=$2 count=$3 iflag=direct &&
    dd if=/data/guest.bin of=/tmp/want bs=4096 skip=$1 count=$3 &&
    cmp /tmp/got /tmp/want
}
)sh";

// A failed check's line, for the assertion message.
std::string result_of(const std::map<std::string, std::string>& results, const std::string& name) {
    const auto it = results.find(name);
    return it == results.end() ? "(no result)" : it->second;
}

class LinuxGuest : public ::testing::Test {
  protected:
    void SetUp() override {
        try {
            kit_ = find_guest_kit();
        } catch (const std::exception& e) {
            FAIL() << e.what();
        }
        host_bytes_ = pattern(kImageBlocks * kBlock, 1);
        guest_bytes_ = pattern(kDataBlocks * kBlock, 2);
        image_ = dir_.path() / "disk.img";
        std::ofstream(image_, std::ios::binary)
            .write(host_bytes_.data(), static_cast<std::streamsize>(host_bytes_.size()));
        socket_ = dir_.path() / "vhost-user-blk.sock";
    }

    std::unique_ptr<ExportProcess> start_export(std::vector<std::string> extra,
                                                const std::string& log = "export.log") {
        std::vector<std::string> args = {"--target", image_.string(), "--socket", socket_.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<ExportProcess>(dir_.path() / log, args);
    }

    // The initramfs whose /init is the prelude, `body` and the power-off.
    std::filesystem::path initramfs(const std::string& body) {
        NewcArchive archive;
        for (const char* dir : {"bin", "dev", "proc", "sys", "tmp", "modules", "data"}) {
            archive.directory(dir);
        }
        // The kernel opens /dev/console for /init before devtmpfs is mounted.
        archive.char_device("dev/console", 5, 1);
        archive.file("bin/busybox", read_file(kit_.busybox), 0755);
        std::string order;
        for (const std::string& module : virtio_blk_modules()) {
            const std::string name = std::filesystem::path(module).filename().string();
            archive.file("modules/" + name, read_file(kit_.modules / module));
            order += name + "\n";
        }
        archive.file("modules/order", order);
        archive.file("data/host.bin", host_bytes_.substr(0, kDataBlocks * kBlock));
        archive.file("data/guest.bin", guest_bytes_);
        archive.file("init", std::string(kInitPrelude) + kWriteAndReadBack + body + kInitEnd, 0755);
        const std::filesystem::path path = dir_.path() / "initrd.gz";
        write_gzipped(archive.finish(), path, kit_.gzip);
        return path;
    }

    std::unique_ptr<QemuGuest> boot(const std::filesystem::path& initrd, unsigned queues,
                                    unsigned reconnect_seconds = 0) {
        return std::make_unique<QemuGuest>(QemuGuestOptions{.qemu = kit_.qemu,
                                                            .kernel = kit_.kernel,
                                                            .initrd = initrd,
                                                            .socket = socket_,
                                                            .num_queues = queues,
                                                            .reconnect_seconds = reconnect_seconds,
                                                            .console = dir_.path() / "console.txt",
                                                            .log = dir_.path() / "qemu.log"});
    }

    // The guest block `from` .. `from + count` at image block `to`.
    void expect_guest_write(std::string& image, std::uint64_t from, std::uint64_t to,
                            std::uint64_t count) const {
        image.replace(to * kBlock, count * kBlock, guest_bytes_, from * kBlock, count * kBlock);
    }

    std::string image_now() const { return read_file(image_); }

    // The counters the export logs as it stops.
    static nlohmann::json stop_counters(const std::string& log) {
        const std::string marker = "the device's counters: ";
        const auto at = log.rfind(marker);
        if (at == std::string::npos) {
            return nlohmann::json::object();
        }
        const auto end = log.find('\n', at);
        return nlohmann::json::parse(log.substr(at + marker.size(), end - at - marker.size()));
    }

    TempDir dir_;
    GuestKit kit_;
    // The guest ran workload_body() to the end on a read-write disk of
    // `queues` queues, and the image holds exactly what it wrote over the
    // host's bytes.
    void expect_workload_done(QemuGuest& guest, const std::string& queues,
                              const std::string& write_cache) {
        const auto results = guest.results();
        ASSERT_EQ(result_of(results, "done"), "yes") << guest.describe();
        EXPECT_EQ(result_of(results, "size"), std::to_string(kImageBlocks * kBlock / 512));
        EXPECT_EQ(result_of(results, "queues"), queues);
        EXPECT_EQ(result_of(results, "ro"), "0");
        EXPECT_EQ(result_of(results, "write_cache"), write_cache);
        for (const char* check :
             {"host_bytes", "direct", "scattered", "sync", "discard", "discarded_reads_zeros"}) {
            EXPECT_EQ(result_of(results, check), "ok") << check << "\n" << guest.describe();
        }
        std::string expected = host_bytes_;
        expect_guest_write(expected, 0, kDirectBlock, kDataBlocks);
        for (std::size_t i = 0; i < kScatteredBlocks.size(); ++i) {
            expect_guest_write(expected, i, kScatteredBlocks[i], 1);
        }
        expect_guest_write(expected, kSyncedSource, kSyncedBlock, 1);
        expected.replace(kDiscardBlock * kBlock, kDiscardBlocks * kBlock,
                         std::string(kDiscardBlocks * kBlock, '\0'));
        const std::string image = image_now();
        ASSERT_EQ(image.size(), expected.size());
        std::uint64_t first_difference = 0;
        while (first_difference < image.size() &&
               image[first_difference] == expected[first_difference]) {
            ++first_difference;
        }
        EXPECT_EQ(first_difference, image.size())
            << "the image differs from block " << first_difference / kBlock;
    }

    std::string host_bytes_;
    std::string guest_bytes_;
    std::filesystem::path image_;
    std::filesystem::path socket_;
};

// The workload of the read-write tests: O_DIRECT writes read back,
// scattered 4 KiB writes, a synced write, a discard reading back zeros.
std::string workload_body() {
    std::string scattered = "scattered() {\n";
    for (std::size_t i = 0; i < kScatteredBlocks.size(); ++i) {
        scattered += "    write_and_read_back " + std::to_string(i) + " " +
                     std::to_string(kScatteredBlocks[i]) + " 1 || return 1\n";
    }
    scattered += "}\n";
    return scattered + "check direct write_and_read_back 0 " + std::to_string(kDirectBlock) + " " +
           std::to_string(kDataBlocks) +
           "\n"
           "check scattered scattered\n"
           "check sync sh -c 'dd if=/data/guest.bin of=/dev/vda bs=4096 skip=" +
           std::to_string(kSyncedSource) + " seek=" + std::to_string(kSyncedBlock) +
           " count=1 conv=notrunc && sync && sync /dev/vda'\n"
           "check discard blkdiscard -o " +
           std::to_string(kDiscardBlock * kBlock) + " -l " +
           std::to_string(kDiscardBlocks * kBlock) +
           " /dev/vda\n"
           "dd if=/dev/zero of=/tmp/zeros bs=4096 count=" +
           std::to_string(kDiscardBlocks) +
           " 2>/dev/null\n"
           "check discarded_reads_zeros sh -c 'dd if=/dev/vda bs=4096 skip=" +
           std::to_string(kDiscardBlock) + " count=" + std::to_string(kDiscardBlocks) +
           " iflag=direct 2>/dev/null | cmp - /tmp/zeros'\n";
}

TEST_F(LinuxGuest, TheVirtioBlkDriverReadsWritesFlushesAndDiscardsOnTwoQueues) {
    const auto initrd = initramfs(workload_body());
    auto device = start_export({"--queues", "2"});
    auto guest = boot(initrd, 2);
    const pvsim::os::ExitStatus qemu = guest->wait_for_exit(kBootLimit);
    EXPECT_TRUE(qemu.success()) << qemu.describe() << "\n" << guest->describe();
    const pvsim::os::ExitStatus exported = device->stop();
    EXPECT_TRUE(exported.success()) << exported.describe() << "\n" << device->log();

    expect_workload_done(*guest, "2", "write back");
    const nlohmann::json counters = stop_counters(device->log());
    EXPECT_GE(counters.value("flushes", 0), 1) << device->log();
    EXPECT_GE(counters.value("discards", 0), 1) << device->log();
    EXPECT_EQ(counters.value("errors", -1), 0) << device->log();
}

// The harness's own sanity check: the same guest and workload against
// qemu-storage-daemon's vhost-user-blk export (one queue, its default) pass
// the same checks, so what the tests above find is pvsim's device.
TEST_F(LinuxGuest, TheSameWorkloadPassesAgainstQemuStorageDaemon) {
    const auto initrd = initramfs(workload_body());
    std::optional<pvsim::tools::cli::QsdDevice> qsd;
    qsd.emplace(image_, socket_, dir_.path() / "qsd.log");
    auto guest = boot(initrd, 1);
    const pvsim::os::ExitStatus qemu = guest->wait_for_exit(kBootLimit);
    EXPECT_TRUE(qemu.success()) << qemu.describe() << "\n" << guest->describe();
    qsd.reset();
    // qemu-storage-daemon 7.2's export, started as pvsim bench starts it,
    // shows Linux a write-through cache (as observed here); pvsim's device
    // offers VIRTIO_BLK_F_FLUSH, which Linux shows as write back.
    expect_workload_done(*guest, "1", "write through");
}

TEST_F(LinuxGuest, AReadOnlyExportIsAReadOnlyDiskToTheGuest) {
    const auto initrd = initramfs(
        "check write_refused sh -c '! dd if=/data/guest.bin of=/dev/vda bs=4096 count=1 "
        "oflag=direct'\n");
    auto device = start_export({"--queues", "1", "--read-only"});
    auto guest = boot(initrd, 1);
    const pvsim::os::ExitStatus qemu = guest->wait_for_exit(kBootLimit);
    EXPECT_TRUE(qemu.success()) << qemu.describe() << "\n" << guest->describe();
    EXPECT_TRUE(device->stop().success()) << device->log();

    const auto results = guest->results();
    ASSERT_EQ(result_of(results, "done"), "yes") << guest->describe();
    EXPECT_EQ(result_of(results, "size"), std::to_string(kImageBlocks * kBlock / 512));
    EXPECT_EQ(result_of(results, "queues"), "1");
    EXPECT_EQ(result_of(results, "ro"), "1");
    EXPECT_EQ(result_of(results, "host_bytes"), "ok") << guest->describe();
    EXPECT_EQ(result_of(results, "write_refused"), "ok") << guest->describe();
    EXPECT_EQ(stop_counters(device->log()).value("bytes_written", -1), 0) << device->log();
    EXPECT_TRUE(image_now() == host_bytes_) << "the read-only image changed";
}

TEST_F(LinuxGuest, IoResumesWhenTheExportRestartsUnderQemusReconnect) {
    const auto initrd = initramfs(
        "check before_restart write_and_read_back 0 100 4\n"
        "report phase restart\n"
        // The export restarts meanwhile; I/O issued before it is back waits
        // in the ring for the device QEMU reconnects to.
        "sleep 3\n"
        "check after_restart write_and_read_back 4 200 4\n");
    auto device = start_export({});
    auto guest = boot(initrd, 1, 1);
    ASSERT_TRUE(guest->wait_for_console("PVSIM phase=restart", kBootLimit)) << guest->describe();
    const pvsim::os::ExitStatus first = device->stop();
    EXPECT_TRUE(first.success()) << first.describe() << "\n" << device->log();
    device = start_export({}, "export-again.log");
    const pvsim::os::ExitStatus qemu = guest->wait_for_exit(kBootLimit);
    EXPECT_TRUE(qemu.success()) << qemu.describe() << "\n" << guest->describe();
    EXPECT_TRUE(device->stop().success()) << device->log();

    const auto results = guest->results();
    ASSERT_EQ(result_of(results, "done"), "yes") << guest->describe();
    EXPECT_EQ(result_of(results, "before_restart"), "ok") << guest->describe();
    EXPECT_EQ(result_of(results, "after_restart"), "ok") << guest->describe();
    EXPECT_GE(stop_counters(device->log()).value("writes", 0), 1) << device->log();
    std::string expected = host_bytes_;
    expect_guest_write(expected, 0, 100, 4);
    expect_guest_write(expected, 4, 200, 4);
    EXPECT_TRUE(image_now() == expected) << "the image does not hold the guest's writes";
}

}  // namespace linux_guest_test
