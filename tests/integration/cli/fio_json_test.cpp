// pvsim io --json against fio 3.33's own JSON: fio runs the same job on a
// file and writes its report, pvsim runs it in a guest, and every key pvsim
// writes (but what is under "pvsim") is one fio wrote, with fio's JSON type;
// every key fio writes for a direction pvsim writes too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace fio_json_test {

// The program `name` in $PATH, or empty.
std::filesystem::path in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path == nullptr ? "" : path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::filesystem::path candidate = std::filesystem::path(dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return {};
}

// JSON's kinds as a reader tells them apart: a number written with a
// fraction or an exponent is a float, one without an integer (signed or
// not is no difference in the text).
std::string kind_of(const nlohmann::json& value) {
    if (value.is_number_float()) {
        return "float";
    }
    if (value.is_number()) {
        return "integer";
    }
    return value.type_name();
}

// Every key of `ours` is in `theirs` with the same kind, recursively; `skip`
// is left out at this level.
void expect_subset(const nlohmann::json& ours, const nlohmann::json& theirs,
                   const std::string& where, const std::string& skip = "") {
    for (const auto& [key, value] : ours.items()) {
        if (key == skip) {
            continue;
        }
        const std::string at = where + "." + key;
        if (!theirs.contains(key)) {
            ADD_FAILURE() << at << " is not fio's";
            continue;
        }
        EXPECT_EQ(kind_of(value), kind_of(theirs.at(key)))
            << at << ": ours " << value.dump() << ", fio's " << theirs.at(key).dump();
        if (value.is_object() && theirs.at(key).is_object()) {
            expect_subset(value, theirs.at(key), at);
        }
    }
}

TEST(CliFioJsonTest, EveryKeyOfAJobIsFiosWithFiosTypeAndPvsimsOwnAreUnderPvsim) {
    const std::filesystem::path fio = in_path("fio");
    ASSERT_FALSE(fio.empty()) << "fio is not installed (the package fio, from make deps)";
    CliRun run;
    const auto report = run.file("fio.json");
    // The same job for both: 256 4 KiB random reads and writes over 4 MiB.
    const std::vector<std::string> job = {"--rw",      "randrw", "--bs",        "4k",
                                          "--iodepth", "4",      "--size",      "4M",
                                          "--io_size", "1M",     "--rwmixread", "50"};
    std::vector<std::string> fio_args = {"--name=j", "--filename=" + run.file("fio.img").string(),
                                         "--output-format=json", "--output=" + report.string()};
    for (std::size_t i = 0; i < job.size(); i += 2) {
        fio_args.push_back(job[i] + "=" + job[i + 1]);
    }
    {
        os::ChildProcess process = os::ChildProcess::spawn(fio, fio_args);
        std::optional<os::ExitStatus> status;
        ASSERT_TRUE(eventually([&] { return (status = process.try_wait()).has_value(); }));
        ASSERT_TRUE(status->success()) << status->describe();
    }
    const nlohmann::json theirs = nlohmann::json::parse(read_file(report));
    ASSERT_EQ(theirs.at("fio version"), "fio-3.33");
    const nlohmann::json& their_job = theirs.at("jobs").at(0);

    ASSERT_EQ(run.pvsim({"up"}).code, 0);
    ASSERT_EQ(run.pvsim({"create", "g"}).code, 0);
    const auto image = run.image("disk.img", 8 << 20);
    ASSERT_EQ(run.pvsim({"block-attach", "g", "target=" + image.string() + ",vdev=xvda"}).code, 0);
    std::vector<std::string> io = {"io", "g", "xvda", "--name", "j", "--json"};
    io.insert(io.end(), job.begin(), job.end());
    const CliResult result = run.pvsim(io);
    ASSERT_EQ(result.code, 0) << result.err;
    const nlohmann::json ours = result.json();

    expect_subset(ours, theirs, "", "pvsim");
    ASSERT_EQ(ours.at("jobs").size(), 1u);
    const nlohmann::json& our_job = ours.at("jobs").at(0);
    expect_subset(our_job, their_job, "jobs[0]", "pvsim");
    // The job's own keys the issue names, and each direction's whole as fio
    // writes it.
    for (const char* key :
         {"jobname", "groupid", "error", "job options", "read", "write", "trim"}) {
        EXPECT_TRUE(our_job.contains(key)) << key;
    }
    EXPECT_EQ(our_job.at("error"), 0);  // an errno: none
    EXPECT_FALSE(our_job.contains("jobnum"));
    for (const char* direction : {"read", "write", "trim"}) {
        for (const auto& [key, value] : their_job.at(direction).items()) {
            EXPECT_TRUE(our_job.at(direction).contains(key)) << direction << "." << key;
        }
        for (const char* latency : {"slat_ns", "clat_ns", "lat_ns"}) {
            for (const auto& [key, value] : their_job.at(direction).at(latency).items()) {
                EXPECT_TRUE(our_job.at(direction).at(latency).contains(key))
                    << direction << "." << latency << "." << key;
            }
        }
    }
    // pvsim's own: one object per job and one for the run.
    EXPECT_EQ(our_job.at("pvsim").at("jobnum"), 0);
    EXPECT_TRUE(our_job.at("pvsim").at("verify").is_object());
    EXPECT_TRUE(ours.at("pvsim").at("counts").is_object());
    EXPECT_EQ(ours.at("pvsim").at("ioengine"), "blkfront");
}

}  // namespace fio_json_test
}  // namespace pvsim::test
