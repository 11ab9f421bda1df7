// fio's option names and the checks that keep a job inside its device.
#include "frontend/workload/job_options.hpp"

#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/units.hpp"

namespace pvsim::frontend::workload {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::uint64_t kMiB = 1024 * 1024;

std::string rejection(const JobOptions& options, std::uint64_t capacity = kMiB) {
    try {
        validate(options, capacity);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "accepted";
}

TEST(RwMode, ParsesFiosNamesBothWays) {
    for (const RwMode mode : {RwMode::read, RwMode::write, RwMode::randread, RwMode::randwrite,
                              RwMode::rw, RwMode::randrw}) {
        EXPECT_EQ(parse_rw(to_string(mode)), mode);
    }
    EXPECT_EQ(parse_rw("readwrite"), RwMode::rw);
    EXPECT_TRUE(is_random(RwMode::randrw));
    EXPECT_FALSE(is_random(RwMode::rw));
    EXPECT_TRUE(does_read(RwMode::rw));
    EXPECT_TRUE(does_write(RwMode::rw));
    EXPECT_FALSE(does_read(RwMode::randwrite));
    EXPECT_FALSE(does_write(RwMode::randread));
}

TEST(RwMode, AnUnknownModeNamesTheTextAndTheAcceptedOnes) {
    try {
        parse_rw("randomread");
        FAIL() << "accepted";
    } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("\"randomread\""));
        EXPECT_THAT(e.what(), HasSubstr("randread"));
        EXPECT_THAT(e.what(), HasSubstr("randrw"));
    }
}

TEST(Validate, DefaultsFitAnyDeviceOfOneBlock) {
    EXPECT_EQ(rejection(JobOptions{}), "accepted");
    EXPECT_EQ(rejection(JobOptions{}, 4096), "accepted");
}

TEST(Validate, EachBadOptionIsNamedAsFioNamesIt) {
    JobOptions o;
    o.bs = 1000;
    EXPECT_THAT(rejection(o), StartsWith("bs: 1000 bytes is not a non-zero multiple of the 512"));
    o.bs = 0;
    EXPECT_THAT(rejection(o), StartsWith("bs:"));
    o.bs = 8 * kMiB;
    EXPECT_THAT(rejection(o, 64 * kMiB), StartsWith("bs: 8 MiB is larger than the maximum, 4 MiB"));
    o = {};
    o.bs = 2 * kMiB;
    EXPECT_THAT(rejection(o), StartsWith("bs: 2 MiB is larger than the device"));

    o = {};
    o.iodepth = 0;
    EXPECT_THAT(rejection(o), StartsWith("iodepth: 0 is outside 1..1024"));
    o.iodepth = 1025;
    EXPECT_THAT(rejection(o), StartsWith("iodepth: 1025"));

    o = {};
    o.numjobs = 0;
    EXPECT_THAT(rejection(o), StartsWith("numjobs: 0 is outside"));

    o = {};
    o.rwmixread = 101;
    EXPECT_THAT(rejection(o), StartsWith("rwmixread: 101 is not a percentage"));

    o = {};
    o.offset = 100;
    EXPECT_THAT(rejection(o), StartsWith("offset: 100 is not a multiple of the 512"));
    o.offset = kMiB;
    EXPECT_THAT(rejection(o), StartsWith("offset: 1048576 lies past the end"));

    o = {};
    o.size = 6000;
    EXPECT_THAT(rejection(o), StartsWith("size: 6000 bytes is not a non-zero multiple of bs"));
    o.size = 2 * kMiB;
    EXPECT_THAT(rejection(o), StartsWith("size: 1 jobs of 2 MiB from offset 0 do not fit"));
    o.size = 512 * 1024;
    o.numjobs = 3;
    EXPECT_THAT(rejection(o), StartsWith("size: 3 jobs of 512 KiB"));
    o.numjobs = 2;
    EXPECT_EQ(rejection(o), "accepted");
    o.offset = 4096;
    EXPECT_THAT(rejection(o), StartsWith("size: 2 jobs"));

    o = {};
    o.offset = kMiB - 2048;
    EXPECT_THAT(rejection(o), StartsWith("size: from offset"));

    o = {};
    o.io_size = 100;
    EXPECT_THAT(rejection(o), StartsWith("io_size: 100 bytes is not a non-zero multiple of bs"));

    o = {};
    o.runtime = std::chrono::nanoseconds{0};
    EXPECT_THAT(rejection(o), StartsWith("runtime: must be positive"));

    o = {};
    o.name = "";
    EXPECT_THAT(rejection(o), StartsWith("name:"));
}

TEST(Validate, SizeDefaultsToAnEqualShareRoundedToBs) {
    JobOptions o;
    o.numjobs = 3;
    o.offset = 4096;
    // (1 MiB - 4 KiB) / 3 = 348160 = 85 blocks of 4 KiB.
    EXPECT_EQ(job_size(o, kMiB), 85u * 4096);
    o.size = 8192;
    EXPECT_EQ(job_size(o, kMiB), 8192u);
}

TEST(Validate, TheIoLimitIsIoSizeElseSizeUnlessTimeBased) {
    JobOptions o;
    o.size = 64 * 1024;
    EXPECT_EQ(job_io_limit(o, kMiB), 16u);
    o.io_size = 256 * 1024;
    EXPECT_EQ(job_io_limit(o, kMiB), 64u);
    o.runtime = std::chrono::seconds{1};
    EXPECT_EQ(job_io_limit(o, kMiB), 64u);
    o.io_size.reset();
    EXPECT_EQ(job_io_limit(o, kMiB), std::nullopt);
}

}  // namespace
}  // namespace pvsim::frontend::workload
