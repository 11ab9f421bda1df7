#include "common/os/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pvsim::os {
namespace {

using ::testing::HasSubstr;

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) >= 0;
}

UniqueFd open_null() {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw_system_error("open /dev/null");
    }
    return fd;
}

TEST(UniqueFd, ClosesOnDestruction) {
    int raw;
    {
        UniqueFd fd = open_null();
        raw = fd.get();
        EXPECT_TRUE(fd);
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, DefaultIsEmpty) {
    UniqueFd fd;
    EXPECT_FALSE(fd);
    EXPECT_EQ(fd.get(), -1);
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
    UniqueFd fd = open_null();
    const int raw = fd.release();
    EXPECT_FALSE(fd);
    fd.reset();
    EXPECT_TRUE(is_open(raw));
    ::close(raw);
}

TEST(UniqueFd, ResetClosesTheOldFd) {
    UniqueFd fd = open_null();
    const int first = fd.get();
    UniqueFd second = open_null();
    const int second_raw = second.release();
    fd.reset(second_raw);
    EXPECT_FALSE(is_open(first));
    EXPECT_EQ(fd.get(), second_raw);
    EXPECT_TRUE(is_open(second_raw));
}

TEST(UniqueFd, MoveTransfersOwnership) {
    UniqueFd a = open_null();
    const int raw = a.get();
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_EQ(b.get(), raw);
    UniqueFd c = open_null();
    const int c_raw = c.get();
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_FALSE(is_open(c_raw));
    EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, DuplicateIsCloseOnExecAndIndependent) {
    UniqueFd fd = open_null();
    UniqueFd copy = duplicate_fd(fd.get());
    EXPECT_NE(copy.get(), fd.get());
    EXPECT_NE(::fcntl(copy.get(), F_GETFD) & FD_CLOEXEC, 0);
    const int raw = copy.get();
    fd.reset();
    EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, SystemErrorsNameTheCallAndObject) {
    try {
        throw_system_error("open /nonexistent", ENOENT);
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_THAT(e.what(), HasSubstr("open /nonexistent: "));
        EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
    }
}

TEST(UniqueFd, AdoptInheritedFdMarksItCloseOnExec) {
    const int raw = ::open("/dev/null", O_RDONLY);  // inherited fds come without CLOEXEC
    ASSERT_GE(raw, 0);
    UniqueFd fd = adopt_inherited_fd(raw);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_NE(::fcntl(raw, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(UniqueFd, AdoptInheritedFdRejectsAClosedFd) {
    UniqueFd fd = open_null();
    const int raw = fd.get();
    fd.reset();
    try {
        (void)adopt_inherited_fd(raw);
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EBADF);
        EXPECT_THAT(e.what(), HasSubstr("inherited fd " + std::to_string(raw)));
    }
    EXPECT_THROW((void)adopt_inherited_fd(-1), std::system_error);
}

}  // namespace
}  // namespace pvsim::os
