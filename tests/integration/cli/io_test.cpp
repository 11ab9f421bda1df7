// pvsim io: a workload in the guest through its blkfront, reported as a
// table or as fio's JSON with the per-request counts; verify catches a
// corrupted block and stale data from a lost write, naming the offset;
// bad options are refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace {

class CliIoTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("disk.img", 8 << 20);
        // Without persistent grants (Linux's default is with): every
        // request's grants are mapped and unmapped, which the counts below
        // pin down exactly.
        ASSERT_EQ(run_.pvsim({"block-attach", "g",
                              "target=" + image_.string() + ",vdev=xvda,persistent=off"})
                      .code,
                  0);
    }

    CliResult io(std::vector<std::string> options, const std::string& vdev = "xvda") {
        options.insert(options.begin(), {"io", "g", vdev});
        return run_.pvsim(options);
    }

    nlohmann::json counts_of(const CliResult& result) {
        EXPECT_EQ(result.code, 0) << result.err;
        return result.json()["pvsim"]["counts"];
    }

    std::string image_bytes(off_t offset, std::size_t length) const {
        os::UniqueFd fd(::open(image_.c_str(), O_RDONLY | O_CLOEXEC));
        std::string bytes(length, '\0');
        EXPECT_EQ(::pread(fd.get(), bytes.data(), length, offset), static_cast<ssize_t>(length));
        return bytes;
    }
    void write_image(off_t offset, const std::string& bytes) const {
        os::UniqueFd fd(::open(image_.c_str(), O_WRONLY | O_CLOEXEC));
        ASSERT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), offset),
                  static_cast<ssize_t>(bytes.size()));
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliIoTest, JsonFollowsFioAndCarriesThePerRequestCounts) {
    const CliResult write = io({"--rw", "randwrite", "--bs", "4k", "--iodepth", "8", "--size", "1M",
                                "--verify", "crc32c", "--seed", "11", "--json"});
    ASSERT_EQ(write.code, 0) << write.err;
    EXPECT_EQ(write.out.find('\r'), std::string::npos);  // no progress line in a pipe
    const nlohmann::json result = write.json();
    ASSERT_EQ(result["jobs"].size(), 1u);
    const nlohmann::json& job = result["jobs"][0];
    EXPECT_EQ(job["error"], 0);
    EXPECT_EQ(job["write"]["total_ios"], 256);
    EXPECT_EQ(job["write"]["io_bytes"], 1 << 20);
    EXPECT_GT(job["write"]["iops"].get<double>(), 0.0);
    EXPECT_GT(job["write"]["bw_bytes"].get<double>(), 0.0);
    EXPECT_TRUE(job["write"]["clat_ns"]["percentile"].contains("99.000000"));
    EXPECT_LE(job["write"]["clat_ns"]["min"].get<double>(),
              job["write"]["clat_ns"]["max"].get<double>());
    // The write job's read-back is its reads, as fio 3.33 shows a write job
    // with verify.
    EXPECT_EQ(job["read"]["total_ios"], 256);
    EXPECT_EQ(job["pvsim"]["verify"]["blocks_checked"], 256);

    // 256 writes and 256 verify reads, one page each: one blkif request
    // each, whose one grant the backend maps and unmaps (no persistent
    // grants): two grant operations per request, exactly.
    const nlohmann::json& counts = result["pvsim"]["counts"];
    EXPECT_EQ(counts["requests"], 512);
    EXPECT_EQ(counts["grant_ops"], 1024);
    EXPECT_EQ(counts["grant_maps"], 512);
    EXPECT_EQ(counts["grant_unmaps"], 512);
    EXPECT_EQ(counts["grant_copies"], 0);
    EXPECT_EQ(counts["data_copies"], 0);
    EXPECT_EQ(counts["indirect_requests"], 0);
    EXPECT_DOUBLE_EQ(counts["per_request"]["grant_ops"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(counts["per_request"]["grant_maps"].get<double>(), 1.0);
    EXPECT_GT(counts["hypercalls"].get<std::uint64_t>(), 0u);
    // At most one notification per push each way, a push carrying at least
    // one request or response (how many depends on speed: not asserted).
    EXPECT_LE(counts["per_request"]["notifications_to_backend"].get<double>(), 1.0);
    EXPECT_LE(counts["per_request"]["notifications_to_frontend"].get<double>(), 1.0);

    const CliResult read = io(
        {"--rw", "randread", "--bs", "4k", "--iodepth", "4", "--size", "2M", "--verify", "crc32c"});
    ASSERT_EQ(read.code, 0) << read.err;
    EXPECT_NE(read.out.find("IOPS"), std::string::npos) << read.out;
    EXPECT_NE(read.out.find("p99.9"), std::string::npos);
    EXPECT_NE(read.out.find("256 blocks checked; 256 blocks read that pvsim never wrote with "
                            "verify (data not known, only the read checked)"),
              std::string::npos)
        << read.out;
    EXPECT_NE(read.out.find("per request (512 blkif requests for 512 I/Os, 0 indirect)"),
              std::string::npos)
        << read.out;
}

TEST_F(CliIoTest, PersistentGrantsMapNothingInSteadyState) {
    // Linux's defaults: persistent grants at both ends.
    const auto disk = run_.image("persistent.img", 8 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g", "target=" + disk.string() + ",vdev=xvdb"}).code, 0);
    const auto features = run_.pvsim({"block-list", "g", "--json"}).json()[1]["features"];
    EXPECT_EQ(features["persistent"], true) << features;
    const std::vector<std::string> job = {"--rw",   "randwrite", "--bs",  "4k",       "--iodepth",
                                          "8",      "--size",    "1M",    "--verify", "crc32c",
                                          "--seed", "5",         "--json"};
    // The first run fills the pool: each persistent grant is mapped once.
    const nlohmann::json warm = counts_of(io(job, "xvdb"));
    EXPECT_GT(warm["grant_maps"].get<std::uint64_t>(), 0u);
    EXPECT_LE(warm["grant_maps"].get<std::uint64_t>(), 512u);
    EXPECT_EQ(warm["grant_unmaps"], 0);
    // Then nothing is mapped or unmapped: the data is copied through the
    // persistent pages instead, once per segment.
    const nlohmann::json steady = counts_of(io(job, "xvdb"));
    EXPECT_EQ(steady["requests"], 512);
    EXPECT_EQ(steady["grant_maps"], 0);
    EXPECT_EQ(steady["grant_unmaps"], 0);
    EXPECT_DOUBLE_EQ(steady["per_request"]["grant_maps"].get<double>(), 0.0);
    EXPECT_EQ(steady["data_copies"], 512);
}

// xl's untrusted, without persistent grants: blkfront copies every segment
// through pages of its own (Linux 5.19+ bounce), granted per request; the
// same job on a trusted disk copies nothing. The data verifies either way.
TEST_F(CliIoTest, AnUntrustedBackendIsGivenCopiesOfEverySegmentAndTheDataVerifies) {
    const auto untrusted = run_.image("untrusted.img", 8 << 20);
    const auto trusted = run_.image("trusted.img", 8 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          "target=" + untrusted.string() + ",vdev=xvdb,persistent=off,untrusted"})
                  .code,
              0);
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          "target=" + trusted.string() + ",vdev=xvdc,persistent=off"})
                  .code,
              0);
    // Written, then read back and verified: 256 writes, 256 reads.
    const std::vector<std::string> job = {"--rw",   "randwrite", "--bs",  "4k",       "--iodepth",
                                          "8",      "--size",    "1M",    "--verify", "crc32c",
                                          "--seed", "9",         "--json"};
    const nlohmann::json bounced = counts_of(io(job, "xvdb"));
    EXPECT_EQ(bounced["requests"], 512);
    // Every segment of every read and write, one page each.
    EXPECT_EQ(bounced["data_copies"], 512);
    // Each request's grants are its own: mapped and unmapped per request.
    EXPECT_EQ(bounced["grant_maps"], 512);
    EXPECT_EQ(bounced["grant_unmaps"], 512);
    const nlohmann::json direct = counts_of(io(job, "xvdc"));
    EXPECT_EQ(direct["requests"], 512);
    EXPECT_EQ(direct["data_copies"], 0);
    EXPECT_EQ(direct["grant_maps"], 512);
}

TEST_F(CliIoTest, IndirectDescriptorsCarryA1MiBIoInOneRequest) {
    const auto disk = run_.image("indirect.img", 8 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          "target=" + disk.string() + ",vdev=xvdb,max-indirect-segments=256"})
                  .code,
              0);
    const nlohmann::json counts = counts_of(
        io({"--rw", "read", "--bs", "1M", "--size", "8M", "--iodepth", "2", "--json"}, "xvdb"));
    EXPECT_EQ(counts["ios"], 8);
    EXPECT_EQ(counts["requests"], 8);
    EXPECT_EQ(counts["indirect_requests"], 8);
    // Without indirect descriptors a 1 MiB I/O takes ceil(256 / 11) requests.
    const auto plain = run_.image("plain.img", 8 << 20);
    ASSERT_EQ(run_.pvsim({"block-attach", "g",
                          "target=" + plain.string() + ",vdev=xvdc,max-indirect-segments=0"})
                  .code,
              0);
    const nlohmann::json split = counts_of(
        io({"--rw", "read", "--bs", "1M", "--size", "8M", "--iodepth", "2", "--json"}, "xvdc"));
    EXPECT_EQ(split["requests"], 8 * 24);
    EXPECT_EQ(split["indirect_requests"], 0);
}

TEST_F(CliIoTest, TrimDiscardsAndReadsBackZeros) {
    ASSERT_EQ(io({"--rw", "write", "--bs", "64k", "--size", "1M", "--verify", "crc32c"}).code, 0);
    const CliResult trim =
        io({"--rw", "trim", "--bs", "64k", "--size", "512k", "--verify", "crc32c"});
    ASSERT_EQ(trim.code, 0) << trim.err;
    EXPECT_NE(trim.out.find(" trim "), std::string::npos) << trim.out;  // the table's Dir
    const CliResult randtrim = io({"--rw", "randtrim", "--bs", "64k", "--offset", "512k", "--size",
                                   "512k", "--verify", "crc32c", "--json"});
    ASSERT_EQ(randtrim.code, 0) << randtrim.err;
    const nlohmann::json job = randtrim.json()["jobs"][0];
    EXPECT_EQ(job["trim"]["total_ios"], 8);
    EXPECT_EQ(job["write"]["total_ios"], 0);
    // Verify reads the 8 trimmed blocks back: the job's reads, as fio
    // reports a verifying job's read-back.
    EXPECT_EQ(job["read"]["total_ios"], 8);
    EXPECT_EQ(randtrim.json()["pvsim"]["counts"]["ios"], 16);
    // The discarded range is a hole in the image now, and reads as zeros;
    // the guest remembers the trims, so a read verify expects zeros there.
    EXPECT_EQ(image_bytes(0, 1 << 20), std::string(1 << 20, '\0'));
    const CliResult read =
        io({"--rw", "read", "--bs", "64k", "--size", "1M", "--verify", "crc32c"});
    EXPECT_EQ(read.code, 0) << read.err;
}

TEST_F(CliIoTest, VerifyNamesTheOffsetOfACorruptedBlock) {
    ASSERT_EQ(io({"--rw", "write", "--size", "256k", "--verify", "crc32c"}).code, 0);
    // Every block now carries its header; spoil one byte of block 5.
    std::string byte = image_bytes(5 * 4096 + 100, 1);
    byte[0] = static_cast<char>(byte[0] ^ 0x5a);
    write_image(5 * 4096 + 100, byte);
    const CliResult read = io({"--rw", "read", "--size", "256k", "--verify", "crc32c"});
    EXPECT_NE(read.code, 0);
    EXPECT_NE(read.err.find("0x5000 (20480)"), std::string::npos) << read.err;
}

TEST_F(CliIoTest, VerifyCatchesStaleDataFromALostWrite) {
    ASSERT_EQ(io({"--rw", "write", "--size", "64k", "--verify", "crc32c"}).code, 0);
    const std::string first = image_bytes(0x3000, 4096);
    ASSERT_EQ(io({"--rw", "write", "--size", "64k", "--verify", "crc32c"}).code, 0);
    // As if the second write of block 3 had never reached the disk.
    write_image(0x3000, first);
    const CliResult read = io({"--rw", "read", "--size", "64k", "--verify", "crc32c"});
    EXPECT_NE(read.code, 0);
    EXPECT_NE(read.err.find("0x3000 (12288)"), std::string::npos) << read.err;
    EXPECT_NE(read.err.find("stale"), std::string::npos) << read.err;
}

TEST_F(CliIoTest, MixedJobsAndSeveralJobsRun) {
    const CliResult mixed =
        io({"--rw", "randrw", "--rwmixread", "70", "--numjobs", "2", "--size", "1M", "--io_size",
            "512k", "--iodepth", "4", "--verify", "crc32c", "--json"});
    ASSERT_EQ(mixed.code, 0) << mixed.err;
    const nlohmann::json result = mixed.json();
    ASSERT_EQ(result["jobs"].size(), 2u);
    for (const auto& job : result["jobs"]) {
        const auto ios = job["read"]["total_ios"].get<int>() + job["write"]["total_ios"].get<int>();
        EXPECT_EQ(ios, 128);
        EXPECT_GT(job["read"]["total_ios"].get<int>(), job["write"]["total_ios"].get<int>());
    }
    const CliResult timed = io({"--rw", "randread", "--runtime", "300ms", "--json"});
    ASSERT_EQ(timed.code, 0) << timed.err;
    EXPECT_GE(timed.json()["jobs"][0]["read"]["runtime"].get<int>(), 250);
}

// fio's own spellings: --output-format=json is --json, --runtime 0 is no
// limit, --time_based runs for --runtime past --io_size, and --direct and
// --ioengine are accepted and reported as what they are in a guest.
TEST_F(CliIoTest, FiosOwnOptionsMeanWhatTheyMeanInFio) {
    const CliResult unlimited = io({"--rw", "randread", "--size", "1M", "--runtime", "0",
                                    "--output-format=json", "--direct=1", "--ioengine=libaio"});
    ASSERT_EQ(unlimited.code, 0) << unlimited.err;
    const nlohmann::json result = unlimited.json();
    EXPECT_EQ(result["jobs"][0]["read"]["total_ios"], 256);  // --size, not time, ended it
    EXPECT_EQ(result["pvsim"]["direct"], 1);
    EXPECT_EQ(result["pvsim"]["ioengine"], "blkfront");
    EXPECT_EQ(result["pvsim"]["ioengine_asked"], "libaio");

    const CliResult timed = io({"--rw", "randread", "--size", "64k", "--io_size", "64k",
                                "--runtime", "300ms", "--time_based", "--json"});
    ASSERT_EQ(timed.code, 0) << timed.err;
    EXPECT_GT(timed.json()["jobs"][0]["read"]["total_ios"].get<int>(), 16);
    EXPECT_GE(timed.json()["jobs"][0]["read"]["runtime"].get<int>(), 250);

    // --group_reporting: the four jobs as one, their I/Os together.
    const CliResult grouped =
        io({"--rw", "randread", "--numjobs", "4", "--size", "256k", "--group_reporting", "--json"});
    ASSERT_EQ(grouped.code, 0) << grouped.err;
    ASSERT_EQ(grouped.json()["jobs"].size(), 1u) << grouped.out;
    EXPECT_EQ(grouped.json()["jobs"][0]["read"]["total_ios"], 4 * 64);
    EXPECT_EQ(grouped.json()["jobs"][0]["jobname"], "pvsim");

    // --startdelay: the job starts that long after the command, and its
    // runtime counts from then (a job whose runtime began with the command
    // would end 300 ms after it, its delay all spent).
    const auto asked = std::chrono::steady_clock::now();
    const CliResult delayed = io({"--rw", "randread", "--size", "64k", "--startdelay", "300ms",
                                  "--runtime", "300ms", "--time_based", "--json"});
    ASSERT_EQ(delayed.code, 0) << delayed.err;
    EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(600));
    EXPECT_GE(delayed.json()["jobs"][0]["read"]["runtime"].get<int>(), 300);
    EXPECT_EQ(delayed.json()["jobs"][0]["job options"]["startdelay"], "300ms");

    // A job no guest could run is usage: refused before the guest is asked.
    const CliResult no_runtime = io({"--time_based"});
    EXPECT_EQ(no_runtime.code, 2);
    EXPECT_NE(no_runtime.err.find("pvsim io: --time_based runs for --runtime"), std::string::npos)
        << no_runtime.err;
    EXPECT_EQ(no_runtime.out, "");
}

// As fio 3.33 prints a write job with verify=crc32c: its read-back is a read
// line; pvsim's verify line says what was checked, and is there without
// verify too.
TEST_F(CliIoTest, AWriteJobsReadBackIsAReadLineAndAVerifyLineIsAlwaysPrinted) {
    const CliResult write =
        io({"--rw", "write", "--bs", "4k", "--size", "1M", "--verify", "crc32c"});
    ASSERT_EQ(write.code, 0) << write.err;
    EXPECT_NE(write.out.find("pvsim.0  read "), std::string::npos) << write.out;
    EXPECT_NE(write.out.find("pvsim.0  write "), std::string::npos) << write.out;
    EXPECT_NE(write.out.find("\nverify pvsim.0: 256 blocks checked\n"), std::string::npos)
        << write.out;

    const CliResult plain = io({"--rw", "read", "--size", "64k"});
    ASSERT_EQ(plain.code, 0) << plain.err;
    EXPECT_NE(plain.out.find("\nverify: off ("), std::string::npos) << plain.out;

    // Blocks past what was written: read, their data not known.
    const CliResult unknown =
        io({"--rw", "read", "--offset", "4M", "--size", "64k", "--verify", "crc32c"});
    ASSERT_EQ(unknown.code, 0) << unknown.err;
    EXPECT_NE(unknown.out.find("\nverify pvsim.0: nothing checked: 16 blocks read that pvsim "
                               "never wrote with verify"),
              std::string::npos)
        << unknown.out;
    EXPECT_EQ(unknown.out.find("read only"), std::string::npos) << unknown.out;
}

// The most jobs --numjobs allows: the agent's reply carries all of them,
// whatever its size (each job is fio's whole object).
TEST_F(CliIoTest, TheMostJobsTheOptionAllowsAllReport) {
    const CliResult many = io({"--rw", "randread", "--numjobs", "64", "--size", "64k", "--json"});
    ASSERT_EQ(many.code, 0) << many.err;
    EXPECT_GT(many.out.size(), 64u * 1024u);
    const nlohmann::json result = many.json();
    ASSERT_EQ(result["jobs"].size(), 64u);
    for (const auto& job : result["jobs"]) {
        EXPECT_EQ(job["read"]["total_ios"].get<int>(), 16) << job;
    }
}

TEST_F(CliIoTest, BadOptionsAreRefused) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--bs", "4q"}, "4q"},
        {{"--runtime", "5parsecs"}, "5parsecs"},
        {{"--rw", "sideways"}, "sideways"},
        {{"--iodepth", "0"}, "iodepth"},
        {{"--verify", "md5"}, "md5"},
        {{"--sync", "maybe"}, "maybe"},
        {{"--size", "1G"}, "size"},
        {{"--bs", "1000"}, "bs"},
    };
    for (const auto& [options, message] : cases) {
        const CliResult result = io(options);
        EXPECT_NE(result.code, 0) << options[0];
        EXPECT_NE(result.err.find(message), std::string::npos) << options[0] << ": " << result.err;
    }
    const CliResult vdev = run_.pvsim({"io", "g", "xvdb"});
    EXPECT_NE(vdev.code, 0);
    EXPECT_NE(vdev.err.find("g has no vdev xvdb"), std::string::npos) << vdev.err;
    const CliResult domain = run_.pvsim({"io", "nosuch", "xvda"});
    EXPECT_NE(domain.err.find("no domain called"), std::string::npos) << domain.err;
}

}  // namespace
}  // namespace pvsim::test
