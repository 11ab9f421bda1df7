#include "common/run_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/units.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Vars = std::map<std::string, std::string, std::less<>>;

fs::path resolve(std::optional<std::string_view> arg, const Vars& vars, uid_t uid = 1234) {
    return resolve_run_dir_path(arg, os::Environment::from_map(vars), uid);
}

TEST(ResolveRunDir, CommandLineWins) {
    EXPECT_EQ(resolve("/srv/run", {{"PVSIM_RUN_DIR", "/env/run"}, {"XDG_RUNTIME_DIR", "/run/u"}}),
              "/srv/run");
}

TEST(ResolveRunDir, ThenPvsimRunDir) {
    EXPECT_EQ(resolve(std::nullopt, {{"PVSIM_RUN_DIR", "/env/run"}, {"XDG_RUNTIME_DIR", "/run/u"}}),
              "/env/run");
}

TEST(ResolveRunDir, ThenXdgRuntimeDir) {
    EXPECT_EQ(resolve(std::nullopt, {{"XDG_RUNTIME_DIR", "/run/user/1000"}}),
              "/run/user/1000/pvsim");
}

TEST(ResolveRunDir, ThenTmpWithTheUid) {
    EXPECT_EQ(resolve(std::nullopt, {}), "/tmp/pvsim-1234");
    EXPECT_EQ(resolve(std::nullopt, {}, 0), "/tmp/pvsim-0");
}

TEST(ResolveRunDir, EmptyVariablesCountAsUnset) {
    EXPECT_EQ(resolve(std::nullopt, {{"PVSIM_RUN_DIR", ""}, {"XDG_RUNTIME_DIR", "/run/u"}}),
              "/run/u/pvsim");
    EXPECT_EQ(resolve(std::nullopt, {{"PVSIM_RUN_DIR", ""}, {"XDG_RUNTIME_DIR", ""}}),
              "/tmp/pvsim-1234");
}

TEST(ResolveRunDir, RelativeXdgRuntimeDirIsIgnored) {
    EXPECT_EQ(resolve(std::nullopt, {{"XDG_RUNTIME_DIR", "run/user"}}), "/tmp/pvsim-1234");
}

TEST(ResolveRunDir, RelativePathsBecomeAbsolute) {
    EXPECT_EQ(resolve("rel/run", {}), fs::current_path() / "rel/run");
    EXPECT_EQ(resolve(std::nullopt, {{"PVSIM_RUN_DIR", "envrel"}}), fs::current_path() / "envrel");
}

TEST(ResolveRunDir, EmptyArgumentIsAnError) {
    try {
        (void)resolve("", {});
        FAIL() << "accepted an empty --run-dir";
    } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("--run-dir"));
    }
}

TEST(ResolveRunDir, DefaultsToTheRealUid) {
    EXPECT_EQ(resolve_run_dir_path(std::nullopt, os::Environment::from_map({})),
              fs::path("/tmp/pvsim-" + std::to_string(::getuid())));
}

TEST(RunDir, CreatesAPrivateDirectoryWithParents) {
    test::TempDir tmp;
    const fs::path where = tmp.path() / "a" / "b" / "run";
    const RunDir run = RunDir::open(where);
    EXPECT_EQ(run.path(), fs::canonical(where));
    struct stat st {};
    ASSERT_EQ(::stat(where.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_TRUE(fs::is_directory(where / "hypervisor"));
    EXPECT_TRUE(fs::is_directory(where / "xenstored"));
}

TEST(RunDir, ResolveCreatesTheResolvedDirectory) {
    test::TempDir tmp;
    const RunDir run = RunDir::resolve(
        std::nullopt,
        os::Environment::from_map({{"PVSIM_RUN_DIR", (tmp.path() / "env").string()}}));
    EXPECT_EQ(run.path(), fs::canonical(tmp.path() / "env"));
}

TEST(RunDir, OpensAnExistingDirectoryAsItIs) {
    test::TempDir tmp;
    fs::create_directory(tmp.path() / "run");
    fs::permissions(tmp.path() / "run", fs::perms::owner_all | fs::perms::group_read);
    std::ofstream(tmp.path() / "run" / "keep") << "state";
    const RunDir run = RunDir::open(tmp.path() / "run");
    EXPECT_TRUE(fs::exists(tmp.path() / "run" / "keep"));
    EXPECT_EQ(fs::status(tmp.path() / "run").permissions(),
              fs::perms::owner_all | fs::perms::group_read);
}

TEST(RunDir, WellKnownPaths) {
    test::TempDir tmp;
    const RunDir run = RunDir::open(tmp.path());
    EXPECT_EQ(run.xenstored_socket(), run.path() / "xenstored" / "socket");
    EXPECT_EQ(run.hypervisor_socket(), run.path() / "hypervisor" / "control.sock");
    EXPECT_EQ(run.log_file("pvsim-xenstored"), run.path() / "pvsim-xenstored.log");
    EXPECT_EQ(run.log_file("dom1"), run.path() / "dom1.log");
}

TEST(RunDir, RejectsBadProcessNames) {
    test::TempDir tmp;
    const RunDir run = RunDir::open(tmp.path());
    EXPECT_THROW((void)run.log_file(""), ParseError);
    EXPECT_THROW((void)run.log_file("../escape"), ParseError);
    EXPECT_THROW((void)run.log_file(".hidden"), ParseError);
    EXPECT_THROW((void)run.log_file("a/b"), ParseError);
}

TEST(RunDir, ShmTagIsStableAndDistinguishesRuns) {
    test::TempDir tmp;
    const RunDir run = RunDir::open(tmp.path() / "one");
    EXPECT_EQ(run.shm_tag().size(), 16u);
    EXPECT_EQ(run.shm_tag().find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(RunDir::open(tmp.path() / "one").shm_tag(), run.shm_tag());
    EXPECT_NE(RunDir::open(tmp.path() / "two").shm_tag(), run.shm_tag());
    // The same directory reached through a symlink or a non-canonical path is
    // the same run.
    fs::create_directory_symlink(tmp.path() / "one", tmp.path() / "link");
    EXPECT_EQ(RunDir::open(tmp.path() / "link").shm_tag(), run.shm_tag());
    EXPECT_EQ(RunDir::open(tmp.path() / "two" / ".." / "one").shm_tag(), run.shm_tag());
}

TEST(RunDir, ShmTagIsTheFnv1aOfTheCanonicalPath) {
    // Pinned: processes of different builds must agree on it.
    test::TempDir tmp;
    fs::create_directory(tmp.path() / "x");
    const RunDir run = RunDir::open(tmp.path() / "x");
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const char c : run.path().string()) {
        hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    char expected[17];
    std::snprintf(expected, sizeof(expected), "%016llx", static_cast<unsigned long long>(hash));
    EXPECT_EQ(run.shm_tag(), expected);
}

TEST(RunDir, AFileIsNotARunDirectory) {
    test::TempDir tmp;
    std::ofstream(tmp.path() / "file") << "x";
    try {
        (void)RunDir::open(tmp.path() / "file");
        FAIL() << "accepted a file";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOTDIR);
        EXPECT_THAT(e.what(), HasSubstr((tmp.path() / "file").string()));
    }
}

TEST(RunDir, RefusesADirectoryOfAnotherUser) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to give a directory away";
    }
    test::TempDir tmp;
    fs::create_directory(tmp.path() / "theirs");
    ASSERT_EQ(::chown((tmp.path() / "theirs").c_str(), 54321, 54321), 0);
    try {
        (void)RunDir::open(tmp.path() / "theirs");
        FAIL() << "accepted another user's directory";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EPERM);
        EXPECT_THAT(e.what(), HasSubstr("belongs to uid 54321"));
    }
}

TEST(RunDir, RefusesAPathTooLongForItsSockets) {
    test::TempDir tmp;
    const fs::path deep = tmp.path() / std::string(100, 'd');
    try {
        (void)RunDir::open(deep);
        FAIL() << "accepted a run directory whose sockets cannot be bound";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENAMETOOLONG);
        EXPECT_THAT(e.what(), HasSubstr("at most 107"));
    }
}

TEST(CheckSocketPath, Limit) {
    EXPECT_NO_THROW(check_socket_path("/" + std::string(106, 's')));
    EXPECT_THROW(check_socket_path("/" + std::string(107, 's')), std::system_error);
}

}  // namespace
}  // namespace pvsim
