#include "common/units.hpp"

#include <cstdint>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pvsim {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;
constexpr std::uint64_t kTiB = kGiB * 1024;

struct SizeCase {
    std::string text;
    std::uint64_t bytes;
};

// Test names show the input text, not the struct's bytes.
void PrintTo(const SizeCase& c, std::ostream* os) {
    *os << '"' << c.text << '"';
}

class ParseSizeAccepts : public ::testing::TestWithParam<SizeCase> {};

TEST_P(ParseSizeAccepts, Value) {
    EXPECT_EQ(parse_size(GetParam().text), GetParam().bytes);
}

INSTANTIATE_TEST_SUITE_P(Units, ParseSizeAccepts,
                         ::testing::Values(SizeCase{"0", 0}, SizeCase{"4096", 4096},
                                           SizeCase{"512B", 512}, SizeCase{"512b", 512},
                                           SizeCase{"4k", 4 * kKiB}, SizeCase{"4K", 4 * kKiB},
                                           SizeCase{"4kb", 4 * kKiB}, SizeCase{"4KB", 4 * kKiB},
                                           SizeCase{"4KiB", 4 * kKiB}, SizeCase{"64M", 64 * kMiB},
                                           SizeCase{"64m", 64 * kMiB}, SizeCase{"64MiB", 64 * kMiB},
                                           SizeCase{"1g", kGiB}, SizeCase{"1GB", kGiB},
                                           SizeCase{"2GiB", 2 * kGiB}, SizeCase{"3t", 3 * kTiB},
                                           SizeCase{"3TiB", 3 * kTiB}, SizeCase{"007k", 7 * kKiB},
                                           SizeCase{"18446744073709551615", UINT64_MAX},
                                           SizeCase{"16777215T", 16777215 * kTiB}));

struct Rejected {
    std::string text;
    std::string reason;  // a part of the message
};

void PrintTo(const Rejected& c, std::ostream* os) {
    *os << '"' << c.text << '"';
}

class ParseSizeRejects : public ::testing::TestWithParam<Rejected> {};

TEST_P(ParseSizeRejects, WithAMessageNamingTheInput) {
    try {
        (void)parse_size(GetParam().text);
        FAIL() << "accepted \"" << GetParam().text << "\"";
    } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("\"" + GetParam().text + "\""));
        EXPECT_THAT(e.what(), HasSubstr(GetParam().reason));
        EXPECT_THAT(e.what(), HasSubstr("expected a whole number of bytes"));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Garbage, ParseSizeRejects,
    ::testing::Values(Rejected{"", "empty"}, Rejected{"k", "no number"},
                      Rejected{"KiB", "no number"}, Rejected{"-4k", "negative"},
                      Rejected{"-0", "negative"}, Rejected{"+4k", "no number"},
                      Rejected{" 4k", "no number"}, Rejected{"4kx", "unknown unit \"kx\""},
                      Rejected{"4 k", "unknown unit \" k\""}, Rejected{"4k ", "unknown unit"},
                      Rejected{"4p", "unknown unit \"p\""}, Rejected{"4iB", "unknown unit"},
                      Rejected{"4kk", "unknown unit"}, Rejected{"0x10", "unknown unit \"x10\""},
                      Rejected{"1.5G", "fractions are not supported"}, Rejected{"abc", "no number"},
                      Rejected{"99999999999999999999", "too large"},
                      Rejected{"18446744073709551616", "too large"},
                      Rejected{"16777216T", "too large"}, Rejected{"17179869184G", "too large"}));

TEST(ParseSize, ParseErrorIsAnInvalidArgument) {
    EXPECT_THROW((void)parse_size("x"), std::invalid_argument);
}

struct DurationCase {
    std::string text;
    std::chrono::nanoseconds value;
};

void PrintTo(const DurationCase& c, std::ostream* os) {
    *os << '"' << c.text << '"';
}

class ParseDurationAccepts : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationAccepts, Value) {
    EXPECT_EQ(parse_duration(GetParam().text), GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(
    Units, ParseDurationAccepts,
    ::testing::Values(DurationCase{"30", 30s}, DurationCase{"0", 0s}, DurationCase{"5ns", 5ns},
                      DurationCase{"5nsec", 5ns}, DurationCase{"50us", 50us},
                      DurationCase{"50usec", 50us}, DurationCase{"100ms", 100ms},
                      DurationCase{"100MS", 100ms}, DurationCase{"100msec", 100ms},
                      DurationCase{"2s", 2s}, DurationCase{"2sec", 2s}, DurationCase{"2m", 2min},
                      DurationCase{"2min", 2min}, DurationCase{"3h", 3h}, DurationCase{"3hour", 3h},
                      DurationCase{"9223372036854775807ns", std::chrono::nanoseconds::max()}));

class ParseDurationRejects : public ::testing::TestWithParam<Rejected> {};

TEST_P(ParseDurationRejects, WithAMessageNamingTheInput) {
    try {
        (void)parse_duration(GetParam().text);
        FAIL() << "accepted \"" << GetParam().text << "\"";
    } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("\"" + GetParam().text + "\""));
        EXPECT_THAT(e.what(), HasSubstr(GetParam().reason));
        EXPECT_THAT(e.what(), HasSubstr("ns, us, ms, s, m"));
    }
}

INSTANTIATE_TEST_SUITE_P(Garbage, ParseDurationRejects,
                         ::testing::Values(Rejected{"", "empty"}, Rejected{"ms", "no number"},
                                           Rejected{"-1s", "negative"},
                                           Rejected{"10x", "unknown unit \"x\""},
                                           Rejected{"10msx", "unknown unit \"msx\""},
                                           Rejected{"1.5s", "fractions are not supported"},
                                           Rejected{"99999999999999999999", "too large"},
                                           Rejected{"9223372036854775808ns", "too large"},
                                           Rejected{"9223372037s", "too large"},
                                           Rejected{"2562048h", "too large"}));

TEST(FormatSize, WholeUnits) {
    EXPECT_EQ(format_size(0), "0 B");
    EXPECT_EQ(format_size(512), "512 B");
    EXPECT_EQ(format_size(1023), "1023 B");
    EXPECT_EQ(format_size(4 * kKiB), "4 KiB");
    EXPECT_EQ(format_size(64 * kMiB), "64 MiB");
    EXPECT_EQ(format_size(kGiB), "1 GiB");
    EXPECT_EQ(format_size(2048 * kTiB), "2 PiB");
    EXPECT_EQ(format_size(15 * kTiB * kMiB), "15 EiB");
}

TEST(FormatSize, FractionsOfAUnit) {
    EXPECT_EQ(format_size(1536), "1.5 KiB");
    EXPECT_EQ(format_size(kGiB + kGiB / 5), "1.2 GiB");
    EXPECT_EQ(format_size(UINT64_MAX), "16.0 EiB");
}

TEST(FormatSize, RoundTripsThroughParseSize) {
    for (const std::uint64_t bytes : {kKiB, 3 * kMiB, 7 * kGiB, 5 * kTiB}) {
        std::string text = format_size(bytes);
        text.erase(text.find(' '), 1);
        EXPECT_EQ(parse_size(text), bytes) << text;
    }
}

}  // namespace
}  // namespace pvsim
