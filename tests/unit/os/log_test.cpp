#include "common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "common/units.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Vars = std::map<std::string, std::string, std::less<>>;

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

TEST(ParseLogLevel, AcceptsSpdlogsNamesInAnyCase) {
    EXPECT_EQ(parse_log_level("trace", "x"), spdlog::level::trace);
    EXPECT_EQ(parse_log_level("debug", "x"), spdlog::level::debug);
    EXPECT_EQ(parse_log_level("info", "x"), spdlog::level::info);
    EXPECT_EQ(parse_log_level("warn", "x"), spdlog::level::warn);
    EXPECT_EQ(parse_log_level("error", "x"), spdlog::level::err);
    EXPECT_EQ(parse_log_level("critical", "x"), spdlog::level::critical);
    EXPECT_EQ(parse_log_level("off", "x"), spdlog::level::off);
    EXPECT_EQ(parse_log_level("DEBUG", "x"), spdlog::level::debug);
    EXPECT_EQ(parse_log_level("Warn", "x"), spdlog::level::warn);
}

TEST(ParseLogLevel, RejectsOtherNamesListingTheValidOnes) {
    for (const char* bad : {"", "verbose", "inf", "infos", "3", " info"}) {
        try {
            (void)parse_log_level(bad, "PVSIM_LOG");
            FAIL() << "accepted \"" << bad << "\"";
        } catch (const ParseError& e) {
            EXPECT_THAT(e.what(), HasSubstr(std::string("\"") + bad + "\""));
            EXPECT_THAT(e.what(), HasSubstr("PVSIM_LOG"));
            EXPECT_THAT(e.what(), HasSubstr("trace, debug, info, warn, error, critical, off"));
        }
    }
}

TEST(ResolveLogLevel, ArgumentThenEnvironmentThenInfo) {
    const auto env = os::Environment::from_map({{"PVSIM_LOG", "debug"}});
    EXPECT_EQ(resolve_log_level("error", env), spdlog::level::err);
    EXPECT_EQ(resolve_log_level(std::nullopt, env), spdlog::level::debug);
    EXPECT_EQ(resolve_log_level(std::nullopt, os::Environment::from_map({})), spdlog::level::info);
    EXPECT_EQ(resolve_log_level(std::nullopt, os::Environment::from_map({{"PVSIM_LOG", ""}})),
              spdlog::level::info);
}

TEST(ResolveLogLevel, ErrorsNameTheirSource) {
    const auto env = os::Environment::from_map({{"PVSIM_LOG", "loud"}});
    EXPECT_THAT([&] { (void)resolve_log_level(std::nullopt, env); },
                ::testing::ThrowsMessage<ParseError>(HasSubstr("\"loud\" (from PVSIM_LOG)")));
    EXPECT_THAT([&] { (void)resolve_log_level("quiet", env); },
                ::testing::ThrowsMessage<ParseError>(HasSubstr("\"quiet\" (from --log-level)")));
}

// setup_logging changes the process's default logger; put it back.
class SetupLogging : public ::testing::Test {
  protected:
    ~SetupLogging() override { spdlog::set_default_logger(previous_); }

    test::TempDir dir_;
    RunDir run_ = RunDir::open(dir_.path());
    std::shared_ptr<spdlog::logger> previous_ = spdlog::default_logger();
};

TEST_F(SetupLogging, WritesOneFilePerProcessWithNamePidAndLevel) {
    auto logger = setup_logging(run_, "pvsim-test", std::nullopt, os::Environment::from_map({}));
    EXPECT_EQ(spdlog::default_logger(), logger);
    EXPECT_EQ(logger->name(), "pvsim-test");
    EXPECT_EQ(logger->level(), spdlog::level::info);
    spdlog::info("hello {}", 42);
    spdlog::debug("not at info");
    const std::string text = read_file(run_.path() / "pvsim-test.log");
    EXPECT_THAT(
        text, HasSubstr("[pvsim-test] [pid " + std::to_string(::getpid()) + "] [info] hello 42\n"));
    EXPECT_THAT(text, Not(HasSubstr("not at info")));
    struct stat st {};
    ASSERT_EQ(::stat((run_.path() / "pvsim-test.log").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SetupLogging, LevelFromEnvironmentOrArgument) {
    auto env = os::Environment::from_map({{"PVSIM_LOG", "debug"}});
    setup_logging(run_, "from-env", std::nullopt, env);
    spdlog::debug("debug line");
    EXPECT_THAT(read_file(run_.path() / "from-env.log"), HasSubstr("[debug] debug line"));

    setup_logging(run_, "from-arg", "warn", env);
    spdlog::info("info line");
    spdlog::warn("warn line");
    const std::string text = read_file(run_.path() / "from-arg.log");
    EXPECT_THAT(text, Not(HasSubstr("info line")));
    EXPECT_THAT(text, HasSubstr("[warning] warn line"));
}

TEST_F(SetupLogging, AppendsToAnExistingLog) {
    std::ofstream(run_.path() / "again.log") << "earlier line\n";
    setup_logging(run_, "again", std::nullopt, os::Environment::from_map({}));
    spdlog::info("later line");
    const std::string text = read_file(run_.path() / "again.log");
    EXPECT_THAT(text, HasSubstr("earlier line\n"));
    EXPECT_THAT(text, HasSubstr("later line"));
}

TEST_F(SetupLogging, BadLevelChangesNothing) {
    const auto before = spdlog::default_logger();
    EXPECT_THROW(setup_logging(run_, "bad", "chatty", os::Environment::from_map({})), ParseError);
    EXPECT_EQ(spdlog::default_logger(), before);
    EXPECT_FALSE(std::filesystem::exists(run_.path() / "bad.log"));
}

TEST_F(SetupLogging, UnwritableLogIsASystemErrorNamingTheFile) {
    std::filesystem::create_directory(run_.path() / "blocked.log");  // a directory in the way
    try {
        setup_logging(run_, "blocked", std::nullopt, os::Environment::from_map({}));
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EISDIR);
        EXPECT_THAT(e.what(), HasSubstr("open " + (run_.path() / "blocked.log").string()));
    }
}

}  // namespace
}  // namespace pvsim
