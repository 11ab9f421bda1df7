// pvsim bench: one job over several paths in one run, a row each with the
// job's figures and the per-request counts, beside fio's row on the same
// image, also as JSON; every path it offers runs, on --filename's image or
// its own, with the grant operations, indirect requests and notifications
// the protocol gives it; a bad path name, a missing fio for its baseline or
// an image too short for the job is refused before anything starts, and a
// missing image is laid out as fio lays out its file.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/os/cpu_list.hpp"
#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

TEST(CliBenchTest, PathsSideBySideWithTheirCounts) {
    TempDir scratch;
    const auto json_file = scratch.path() / "bench.json";
    const CliResult result = run_cli(
        scratch.path(), {"bench", "--paths", "local,xen,xen:persistent=on,queues=1", "--rw",
                         "randread", "--bs", "4k", "--iodepth", "4", "--size", "4M", "--io_size",
                         "1M", "--image-size", "8M", "--json", json_file.string()});
    ASSERT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("Path"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("xen:persistent=on,queues=1"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("vs fio"), std::string::npos) << result.out;

    const nlohmann::json bench = nlohmann::json::parse(read_file(json_file));
    EXPECT_EQ(bench["job"]["rw"], "randread");
    EXPECT_EQ(bench["baseline"], "fio");
    EXPECT_EQ(bench["cpus"], (nlohmann::json{{"guest", nullptr}, {"dom0", nullptr}}));
    ASSERT_EQ(bench["paths"].size(), 4u);
    // fio on the same image first: the engine with the most IOPS of the
    // three it ran, each engine's IOPS beside it, and no blkif request.
    const nlohmann::json& fio = bench["paths"][0];
    EXPECT_EQ(fio["path"], "fio");
    ASSERT_FALSE(fio.contains("error")) << fio;
    const std::string engine = fio["features"]["engine"];
    EXPECT_TRUE(engine == "psync" || engine == "libaio" || engine == "io_uring") << engine;
    EXPECT_NE(result.out.find("fio (" + engine + ")"), std::string::npos) << result.out;
    for (const char* each : {"iops_psync", "iops_libaio", "iops_io_uring"}) {
        ASSERT_TRUE(fio["features"].contains(each)) << fio;
        EXPECT_LE(std::stod(fio["features"][each].get<std::string>()),
                  fio["iops"].get<double>() + 1)
            << fio;
    }
    EXPECT_GT(fio["iops"].get<double>(), 0.0);
    EXPECT_EQ(fio["counts"]["requests"], 0);
    EXPECT_FALSE(fio.contains("ratio_to_fio"));
    // The storage alone: the same job, no blkif request at all.
    const nlohmann::json& local = bench["paths"][1];
    EXPECT_EQ(local["path"], "local");
    EXPECT_EQ(local["counts"]["ios"], 256);
    EXPECT_EQ(local["counts"]["requests"], 0);
    EXPECT_GT(local["iops"].get<double>(), 0.0);
    EXPECT_FALSE(local.contains("ratio_to_local"));
    EXPECT_NEAR(local["ratio_to_fio"].get<double>(),
                local["iops"].get<double>() / fio["iops"].get<double>(), 1e-9);
    const nlohmann::json& plain = bench["paths"][2];
    const nlohmann::json& persistent = bench["paths"][3];
    EXPECT_EQ(plain["path"], "xen");
    EXPECT_EQ(persistent["path"], "xen:persistent=on,queues=1");
    for (const nlohmann::json* row : {&plain, &persistent}) {
        const nlohmann::json& counts = (*row)["counts"];
        EXPECT_EQ(counts["ios"], 256) << *row;
        EXPECT_EQ(counts["requests"], 256) << *row;  // one page, one request
        EXPECT_GT((*row)["iops"].get<double>(), 0.0) << *row;
        EXPECT_GT((*row)["bw_bytes"].get<double>(), 0.0) << *row;
        // fio's percentile keys, its integers (fio 3.33's clat_ns).
        const nlohmann::json& percentiles = (*row)["clat_ns"]["percentile"];
        EXPECT_TRUE(percentiles["50.000000"].is_number_integer()) << *row;
        EXPECT_LE(percentiles["50.000000"].get<std::uint64_t>(),
                  percentiles["99.900000"].get<std::uint64_t>());
        EXPECT_TRUE((*row)["bw_bytes"].is_number_integer()) << *row;
        EXPECT_GT(counts["hypercalls"].get<std::uint64_t>(), 0u);
        EXPECT_NEAR((*row)["ratio_to_local"].get<double>(),
                    (*row)["iops"].get<double>() / local["iops"].get<double>(), 1e-9);
        EXPECT_NEAR((*row)["ratio_to_fio"].get<double>(),
                    (*row)["iops"].get<double>() / fio["iops"].get<double>(), 1e-9);
    }
    // Every feature off: each request's one grant mapped and unmapped.
    EXPECT_EQ(plain["features"]["persistent"], "0");
    EXPECT_EQ(plain["features"]["indirect-segments"], "0");
    EXPECT_EQ(plain["counts"]["grant_maps"], 256);
    EXPECT_EQ(plain["counts"]["grant_unmaps"], 256);
    EXPECT_EQ(plain["counts"]["data_copies"], 0);
    // Persistent grants: each page mapped once at most, never unmapped
    // during the run, the data copied through them.
    EXPECT_EQ(persistent["features"]["persistent"], "1");
    EXPECT_LE(persistent["counts"]["grant_maps"].get<std::uint64_t>(), 4u + 1u);
    EXPECT_EQ(persistent["counts"]["grant_unmaps"], 0);
    EXPECT_EQ(persistent["counts"]["data_copies"], 256);
}

// The counts one bench path ran with.
const nlohmann::json& bench_counts(const nlohmann::json& bench, std::size_t index,
                                   const std::string& name) {
    const nlohmann::json& row = bench.at("paths").at(index);
    EXPECT_EQ(row.at("path"), name);
    EXPECT_FALSE(row.contains("error")) << row;
    EXPECT_GT(row.at("iops").get<double>(), 0.0) << row;
    return row.at("counts");
}

// Runs `pvsim bench` on `paths` (after fio's row) and returns its JSON.
nlohmann::json run_bench_paths(const TempDir& scratch, const std::string& paths,
                               std::vector<std::string> job) {
    const auto json_file = scratch.path() / "bench.json";
    std::vector<std::string> args = {"bench", "--paths", paths, "--json", json_file.string()};
    args.insert(args.end(), job.begin(), job.end());
    const CliResult result = run_cli(scratch.path(), args);
    EXPECT_EQ(result.code, 0) << result.out << result.err;
    nlohmann::json bench = nlohmann::json::parse(read_file(json_file));
    const auto commas = static_cast<std::size_t>(std::count(paths.begin(), paths.end(), ','));
    EXPECT_EQ(bench.at("paths").size(), 1 + commas + 1) << bench;
    EXPECT_EQ(bench.at("paths").at(0).at("path"), "fio");
    return bench;
}

// 256 4k random reads of --filename's existing image on each path, one
// page per request: grant mapping per request (every feature off, whatever
// the ring or the queues), persistent grants, the backend's grant copy, and
// virtio-blk on pvsim's device and on qemu-storage-daemon's.
TEST(CliBenchTest, EachOnePagePathRunsOnTheImageWithItsGrantOperations) {
    TempDir scratch;
    const auto image = scratch.path() / "given.img";
    {
        std::ofstream out(image, std::ios::binary);
        const std::string mebibyte(1 << 20, 'p');
        for (int i = 0; i < 4; ++i) {
            out << mebibyte;
        }
    }
    const nlohmann::json bench =
        run_bench_paths(scratch, "xen-multipage,xen-mq,xen-persistent,xen-copy,virtio,virtio-qsd",
                        {"--rw", "randread", "--bs", "4k", "--iodepth", "4", "--size", "1M",
                         "--filename", image.string()});
    EXPECT_EQ(std::filesystem::file_size(image), 4u << 20) << "--filename's image is the one used";
    const auto features = [&](std::size_t index) -> const nlohmann::json& {
        return bench.at("paths").at(index).at("features");
    };
    for (std::size_t i = 1; i <= 6; ++i) {
        const nlohmann::json& counts = bench.at("paths").at(i).at("counts");
        EXPECT_EQ(counts.at("ios"), 256) << counts;       // 1M of 4k reads
        EXPECT_EQ(counts.at("requests"), 256) << counts;  // one page, one request
    }
    // A 16-page ring and two queues change where requests go, not what a
    // request costs: blkback (xen_blkbk_map, xen_blkbk_unmap) maps its one
    // page and unmaps it when done.
    const nlohmann::json& multipage = bench_counts(bench, 1, "xen-multipage");
    EXPECT_EQ(features(1).at("ring-page-order"), "4");
    const nlohmann::json& mq = bench_counts(bench, 2, "xen-mq");
    EXPECT_EQ(features(2).at("queues"), "2");
    for (const nlohmann::json* counts : {&multipage, &mq}) {
        EXPECT_EQ(counts->at("grant_maps"), 256) << *counts;
        EXPECT_EQ(counts->at("grant_unmaps"), 256) << *counts;
        EXPECT_EQ(counts->at("grant_copies"), 0) << *counts;
        EXPECT_EQ(counts->at("data_copies"), 0) << *counts;
    }
    // Persistent grants (blkif.h feature-persistent): a page of blkfront's
    // pool is mapped the first time blkback sees it and kept. At most
    // iodepth (4) one-page requests are in flight, and an answered
    // request's page may go back to the pool only after the job has issued
    // its next request: at most 5 pages are ever mapped. Each segment is
    // copied through its page.
    const nlohmann::json& persistent = bench_counts(bench, 3, "xen-persistent");
    EXPECT_EQ(features(3).at("persistent"), "1");
    EXPECT_LE(persistent.at("grant_maps").get<std::uint64_t>(), 4u + 1u) << persistent;
    EXPECT_EQ(persistent.at("grant_unmaps"), 0) << persistent;
    EXPECT_EQ(persistent.at("data_copies"), 256) << persistent;
    // Grant copy (QEMU's xen-block, xen_block_copy_request): one
    // GNTTABOP_copy slot per page-aligned segment, nothing mapped.
    const nlohmann::json& copy = bench_counts(bench, 4, "xen-copy");
    EXPECT_EQ(features(4).at("grant-mode"), "copy");
    EXPECT_EQ(copy.at("grant_copies"), 256) << copy;
    EXPECT_EQ(copy.at("grant_maps"), 0) << copy;
    EXPECT_EQ(copy.at("grant_unmaps"), 0) << copy;
    EXPECT_EQ(copy.at("data_copies"), 0) << copy;
    // virtio-blk: no grants at all. Both devices offer
    // VIRTIO_RING_F_INDIRECT_DESC, and Linux's virtqueue_add_split puts a
    // request of more than one buffer (header, data, status) in an indirect
    // table. With VIRTIO_RING_F_EVENT_IDX each end notifies at most once per
    // request, and the first request and the first completion always
    // notify (avail_event and used_event start at 0: vring_need_event).
    EXPECT_EQ(features(5).at("transport"), "virtio");
    const std::string qsd_transport = features(6).at("transport");
    EXPECT_NE(qsd_transport.find("vhost-user"), std::string::npos) << qsd_transport;
    EXPECT_NE(qsd_transport.find("/qsd-5.sock"), std::string::npos)
        << "the socket of the qemu-storage-daemon the bench started: " << qsd_transport;
    for (const auto& [index, name] : {std::pair{5u, "virtio"}, std::pair{6u, "virtio-qsd"}}) {
        const nlohmann::json& counts = bench_counts(bench, index, name);
        EXPECT_EQ(counts.at("grant_ops"), 0) << counts;
        EXPECT_EQ(counts.at("indirect_requests"), 256) << counts;
        EXPECT_GE(counts.at("notifications_to_backend").get<std::uint64_t>(), 1u) << counts;
        EXPECT_LE(counts.at("notifications_to_backend").get<std::uint64_t>(), 256u) << counts;
        EXPECT_GE(counts.at("notifications_to_frontend").get<std::uint64_t>(), 1u) << counts;
        EXPECT_LE(counts.at("notifications_to_frontend").get<std::uint64_t>(), 256u) << counts;
    }
}

// 16 reads of 64k (16 pages) on each path, against blkif.h's
// BLKIF_MAX_SEGMENTS_PER_REQUEST (11): with no indirect descriptors
// blkfront splits each into two requests; with them (xen-indirect: blkback's
// 256 segments; xen-all: Linux blkfront's default of 32) each is one
// BLKIF_OP_INDIRECT request whose one indirect page blkback maps as well.
TEST(CliBenchTest, ALargeReadTakesOneIndirectRequestWhereTheRingOffersIndirectSegments) {
    TempDir scratch;
    const nlohmann::json bench =
        run_bench_paths(scratch, "xen,xen-indirect,xen-all",
                        {"--rw", "read", "--bs", "64k", "--iodepth", "4", "--size", "1M"});
    const nlohmann::json& plain = bench_counts(bench, 1, "xen");
    EXPECT_EQ(plain.at("ios"), 16);
    EXPECT_EQ(plain.at("requests"), 32) << plain;  // 11 pages, then 5
    EXPECT_EQ(plain.at("indirect_requests"), 0) << plain;
    EXPECT_EQ(plain.at("grant_maps"), 256) << plain;  // each page once
    EXPECT_EQ(plain.at("grant_unmaps"), 256) << plain;

    const nlohmann::json& indirect = bench_counts(bench, 2, "xen-indirect");
    EXPECT_EQ(bench.at("paths").at(2).at("features").at("indirect-segments"), "256");
    EXPECT_EQ(indirect.at("ios"), 16);
    EXPECT_EQ(indirect.at("requests"), 16) << indirect;
    EXPECT_EQ(indirect.at("indirect_requests"), 16) << indirect;
    // xen_blkbk_parse_indirect maps the indirect page and unmaps it once
    // read; then the 16 data pages are mapped and unmapped.
    EXPECT_EQ(indirect.at("grant_maps"), 16 * (16 + 1)) << indirect;
    EXPECT_EQ(indirect.at("grant_unmaps"), 16 * (16 + 1)) << indirect;

    // Linux's defaults: persistent grants and 32 indirect segments. Every
    // page of a request (16 data, 1 indirect) comes from the persistent
    // pool, mapped once: at most 4 requests in flight use at most
    // 4 x 17 pages. Each data segment is copied through its page.
    const nlohmann::json& all = bench_counts(bench, 3, "xen-all");
    EXPECT_EQ(bench.at("paths").at(3).at("features").at("indirect-segments"), "32");
    EXPECT_EQ(bench.at("paths").at(3).at("features").at("persistent"), "1");
    EXPECT_EQ(all.at("requests"), 16) << all;
    EXPECT_EQ(all.at("indirect_requests"), 16) << all;
    EXPECT_LE(all.at("grant_maps").get<std::uint64_t>(), 4u * (16 + 1)) << all;
    EXPECT_EQ(all.at("grant_unmaps"), 0) << all;
    EXPECT_EQ(all.at("data_copies"), 256) << all;
}

// fio's --filename: a missing file is laid out, written, for --offset and
// --size; one shorter than the job's region is refused before any run
// starts; --baseline local reads the paths against `local`.
TEST(CliBenchTest, AMissingImageIsLaidOutForTheJobAndAShortOneRefused) {
    TempDir scratch;
    const auto image = scratch.path() / "laid-out.img";
    const CliResult made = run_cli(
        scratch.path(), {"bench", "--paths", "local", "--baseline", "local", "--rw", "read", "--bs",
                         "64k", "--offset", "1M", "--size", "3M", "--filename", image.string()});
    ASSERT_EQ(made.code, 0) << made.out << made.err;
    EXPECT_NE(made.out.find("vs local"), std::string::npos) << made.out;
    ASSERT_TRUE(std::filesystem::exists(image));
    EXPECT_EQ(std::filesystem::file_size(image), 4u << 20);
    struct stat st {};
    ASSERT_EQ(::stat(image.c_str(), &st), 0);
    EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, 4u << 20) << "sparse";

    const CliResult shorter = run_cli(scratch.path(), {"bench", "--paths", "local", "--size", "8M",
                                                       "--filename", image.string()});
    EXPECT_EQ(shorter.code, 2);
    EXPECT_NE(shorter.err.find("is 4194304 bytes, shorter than the job's 8388608"),
              std::string::npos)
        << shorter.err;
    EXPECT_EQ(shorter.out.find("fio:"), std::string::npos) << shorter.out;
    EXPECT_EQ(std::filesystem::file_size(image), 4u << 20);

    const CliResult no_size = run_cli(scratch.path(), {"bench", "--paths", "local", "--filename",
                                                       (scratch.path() / "x").string()});
    EXPECT_EQ(no_size.code, 2);
    EXPECT_NE(no_size.err.find("give --size"), std::string::npos) << no_size.err;
    EXPECT_FALSE(std::filesystem::exists(scratch.path() / "x"));
}

// fio's units (MiB/s, --bs in KiB) and, with --verify, each path's verify
// result after the table; a write job's figures are its writes'.
TEST(CliBenchTest, AVerifyingBenchPrintsEachPathsVerifyResultInFiosUnits) {
    TempDir scratch;
    const CliResult result =
        run_cli(scratch.path(), {"bench", "--paths", "local,xen", "--rw", "write", "--bs", "4k",
                                 "--size", "1M", "--image-size", "4M", "--verify", "crc32c"});
    ASSERT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("xen: write 4 KiB iodepth 1"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("MiB/s"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("MB/s"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("] [info] "), std::string::npos) << "a log line: " << result.out;
    EXPECT_NE(result.out.find("\nverify local: 256 blocks checked\n"), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("\nverify xen: 256 blocks checked\n"), std::string::npos)
        << result.out;
}

// One vCPU per side: the guest, fio and `local` on --guest-cpus, dom0 on
// --dom0-cpus (where each process runs is CliCpusTest's to check; here,
// that every row still runs, and the placement is said at the top).
TEST(CliBenchTest, EachSideRunsOnTheCpusItWasGiven) {
    TempDir scratch;
    const os::CpuList host = os::CpuList::allowed();
    const std::string guest = std::to_string(host.cpus().front());
    const std::string dom0 = std::to_string(host.cpus().back());
    const auto json_file = scratch.path() / "bench.json";
    const CliResult result = run_cli(
        scratch.path(), {"--dom0-cpus", dom0, "bench", "--guest-cpus", guest, "--paths",
                         "local,xen-persistent", "--rw", "randread", "--bs", "4k", "--size", "1M",
                         "--io_size", "256k", "--image-size", "4M", "--json", json_file.string()});
    ASSERT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(
        result.out.find("guest side (the guest, fio, local) on CPUs " + guest +
                        "; dom0 (backend, xenstored, qemu-storage-daemon) on CPUs " + dom0 + "\n"),
        std::string::npos)
        << result.out;
    EXPECT_EQ(result.out.find(" failed: "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("fio ("), std::string::npos) << result.out;
    const nlohmann::json bench = nlohmann::json::parse(read_file(json_file));
    EXPECT_EQ(bench["cpus"], (nlohmann::json{{"guest", guest}, {"dom0", dom0}})) << bench.dump();

    const CliResult bad =
        run_cli(scratch.path(), {"bench", "--guest-cpus", "0-x", "--paths", "local"});
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("'0-x' is not a CPU"), std::string::npos) << bad.err;
    EXPECT_EQ(bad.out, "");
}

TEST(CliBenchTest, ABadPathIsRefusedBeforeAnythingStarts) {
    TempDir scratch;
    for (const auto& [paths, message] : std::vector<std::pair<std::string, std::string>>{
             {"xen,warp", "unknown path \"warp\""},
             {"xen,xen", "given twice"},
             {"xen:colour=blue", "unknown key \"colour\""},
             {"xen:vdev=xvdb", "only blkif feature items"},
             {"xen:queues=99", "queues=99"}}) {
        const CliResult result = run_cli(scratch.path(), {"bench", "--paths", paths});
        EXPECT_NE(result.code, 0) << paths;
        EXPECT_NE(result.err.find(message), std::string::npos) << paths << ": " << result.err;
        EXPECT_EQ(result.out.find("Path"), std::string::npos) << result.out;
    }
    // A job no path could run is refused as usage, before any run starts.
    const CliResult timed = run_cli(scratch.path(), {"bench", "--paths", "xen", "--time_based"});
    EXPECT_EQ(timed.code, 2) << timed.err;
    EXPECT_NE(timed.err.find("pvsim bench: --time_based runs for --runtime"), std::string::npos)
        << timed.err;
    EXPECT_EQ(timed.out, "");
    // --startdelay lines up the jobs of several commands; a bench runs one
    // path at a time.
    const CliResult delayed =
        run_cli(scratch.path(), {"bench", "--paths", "xen", "--startdelay", "1"});
    EXPECT_EQ(delayed.code, 2) << delayed.err;
    EXPECT_NE(delayed.err.find("pvsim bench: --startdelay lines up jobs"), std::string::npos)
        << delayed.err;
    EXPECT_EQ(delayed.out, "");
}

}  // namespace
}  // namespace pvsim::test
