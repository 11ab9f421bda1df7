#include "common/os/shared_memory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/run_dir.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::os {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

bool shm_exists(const std::string& name) {
    return std::filesystem::exists("/dev/shm/" + name);
}

// Every test works in a run of its own and removes what it leaves.
class SharedMemoryTest : public ::testing::Test {
  protected:
    ~SharedMemoryTest() override { remove_run_shm(tag_); }

    std::string name(std::string_view what) const { return shm_name(tag_, what); }

    test::TempDir dir_;
    std::string tag_ = RunDir::open(dir_.path()).shm_tag();
};

TEST(ShmName, FollowsTheRunScheme) {
    EXPECT_EQ(shm_name("0123abcd", "dom1.memory"), "pvsim.0123abcd.dom1.memory");
}

TEST(ShmName, RejectsBadParts) {
    EXPECT_THROW((void)shm_name("", "x"), std::invalid_argument);
    EXPECT_THROW((void)shm_name("a.b", "x"), std::invalid_argument);
    EXPECT_THROW((void)shm_name("a/b", "x"), std::invalid_argument);
    EXPECT_THROW((void)shm_name("tag", ""), std::invalid_argument);
    EXPECT_THROW((void)shm_name("tag", "a/b"), std::invalid_argument);
}

TEST_F(SharedMemoryTest, CreateMapsZeroedMemoryOfTheSizeAsked) {
    SharedMemory shm = SharedMemory::create(name("memory"), 3 * 4096);
    EXPECT_EQ(shm.size(), 3u * 4096);
    EXPECT_EQ(shm.name(), name("memory"));
    EXPECT_TRUE(shm.owner());
    EXPECT_EQ(shm.access(), ShmAccess::read_write);
    EXPECT_TRUE(std::all_of(shm.bytes().begin(), shm.bytes().end(),
                            [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_TRUE(shm_exists(name("memory")));

    struct stat st {};
    ASSERT_EQ(::fstat(shm.fd(), &st), 0);
    EXPECT_EQ(st.st_size, 3 * 4096);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_NE(::fcntl(shm.fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(SharedMemoryTest, CreateIsExclusive) {
    SharedMemory first = SharedMemory::create(name("memory"), 4096);
    try {
        (void)SharedMemory::create(name("memory"), 4096);
        FAIL() << "created twice";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EEXIST);
        EXPECT_THAT(e.what(), HasSubstr("shm_open " + name("memory")));
    }
    EXPECT_TRUE(shm_exists(name("memory")));  // the failed attempt removed nothing
}

// A connection's maptrack is such an object: shared by its fd alone, and
// gone with its last fd and mapping, so nothing of it is left in /dev/shm.
TEST_F(SharedMemoryTest, AnAnonymousObjectHasNoNameAndIsSharedByItsFdAlone) {
    SharedMemory object = SharedMemory::create_anonymous(tag_ + ".maptrack1", 8192);
    EXPECT_EQ(object.size(), 8192u);
    EXPECT_TRUE(object.name().empty());
    EXPECT_THAT(list_run_shm(tag_), IsEmpty());
    EXPECT_EQ(std::count(object.data(), object.data() + object.size(), std::byte{0}), 8192);
    std::memcpy(object.data() + 4096, "shared", 6);
    const SharedMemory other = SharedMemory::map_fd(duplicate_fd(object.fd()));
    EXPECT_EQ(std::memcmp(other.data() + 4096, "shared", 6), 0);
    EXPECT_THAT(
        std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(object.fd())).string(),
        HasSubstr(".maptrack1"));
    EXPECT_THROW((void)SharedMemory::create_anonymous("empty", 0), std::system_error);
}

TEST_F(SharedMemoryTest, CreateRejectsZeroSizeAndBadNames) {
    EXPECT_THROW((void)SharedMemory::create(name("empty"), 0), std::system_error);
    EXPECT_FALSE(shm_exists(name("empty")));
    EXPECT_THROW((void)SharedMemory::create("", 4096), std::invalid_argument);
    EXPECT_THROW((void)SharedMemory::create("a/b", 4096), std::invalid_argument);
}

TEST_F(SharedMemoryTest, OpenSeesTheCreatorsBytes) {
    SharedMemory creator = SharedMemory::create(name("memory"), 8192);
    std::memcpy(creator.data() + 4096, "grant", 5);
    SharedMemory opened = SharedMemory::open(name("memory"));
    EXPECT_EQ(opened.size(), 8192u);
    EXPECT_FALSE(opened.owner());
    EXPECT_EQ(std::memcmp(opened.data() + 4096, "grant", 5), 0);
    std::memcpy(opened.data(), "back", 4);
    EXPECT_EQ(std::memcmp(creator.data(), "back", 4), 0);
}

TEST_F(SharedMemoryTest, OpenReadOnly) {
    SharedMemory creator = SharedMemory::create(name("memory"), 4096);
    creator.data()[0] = std::byte{0x5a};
    SharedMemory reader = SharedMemory::open(name("memory"), ShmAccess::read_only);
    EXPECT_EQ(reader.access(), ShmAccess::read_only);
    EXPECT_EQ(reader.data()[0], std::byte{0x5a});
    EXPECT_EQ(::fcntl(reader.fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
}

TEST_F(SharedMemoryTest, OpenMissingNamesTheObject) {
    try {
        (void)SharedMemory::open(name("missing"));
        FAIL() << "opened a missing object";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_THAT(e.what(), HasSubstr("shm_open " + name("missing") + ": "));
    }
}

TEST_F(SharedMemoryTest, OwnerRemovesTheNameOnDestruction) {
    { SharedMemory shm = SharedMemory::create(name("memory"), 4096); }
    EXPECT_FALSE(shm_exists(name("memory")));
}

TEST_F(SharedMemoryTest, OtherMappingsOutliveTheOwner) {
    auto owner = std::make_unique<SharedMemory>(SharedMemory::create(name("memory"), 4096));
    SharedMemory user = SharedMemory::open(name("memory"));
    owner->data()[7] = std::byte{7};
    owner.reset();
    EXPECT_FALSE(shm_exists(name("memory")));
    EXPECT_EQ(user.data()[7], std::byte{7});
}

TEST_F(SharedMemoryTest, DisownedObjectsStay) {
    {
        SharedMemory shm = SharedMemory::create(name("memory"), 4096);
        shm.set_owner(false);
        EXPECT_FALSE(shm.owner());
    }
    EXPECT_TRUE(shm_exists(name("memory")));
    SharedMemory adopted = SharedMemory::open(name("memory"));
    adopted.set_owner(true);
    adopted = SharedMemory::create(name("other"), 4096);  // destroys the adopted one
    EXPECT_FALSE(shm_exists(name("memory")));
}

TEST_F(SharedMemoryTest, MovedFromObjectRemovesNothing) {
    SharedMemory first = SharedMemory::create(name("memory"), 4096);
    std::byte* data = first.data();
    {
        SharedMemory second(std::move(first));
        EXPECT_EQ(second.data(), data);
        EXPECT_EQ(first.data(), nullptr);  // NOLINT(bugprone-use-after-move)
        EXPECT_EQ(first.fd(), -1);
        EXPECT_FALSE(first.owner());
        EXPECT_TRUE(first.name().empty());
    }
    EXPECT_FALSE(shm_exists(name("memory")));
}

TEST_F(SharedMemoryTest, MapFdSharesTheSameMemory) {
    SharedMemory shm = SharedMemory::create(name("memory"), 2 * 4096);
    SharedMemory by_fd = SharedMemory::map_fd(duplicate_fd(shm.fd()));
    EXPECT_EQ(by_fd.size(), 2u * 4096);
    EXPECT_TRUE(by_fd.name().empty());
    EXPECT_FALSE(by_fd.owner());
    by_fd.set_owner(true);  // nothing to own without a name
    EXPECT_FALSE(by_fd.owner());
    std::memcpy(by_fd.data() + 4096, "frame 1", 7);
    EXPECT_EQ(std::memcmp(shm.data() + 4096, "frame 1", 7), 0);
}

TEST_F(SharedMemoryTest, MapFdReadOnly) {
    SharedMemory shm = SharedMemory::create(name("memory"), 4096);
    shm.data()[1] = std::byte{1};
    UniqueFd read_only(::open(("/dev/shm/" + name("memory")).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(read_only);
    EXPECT_THROW((void)SharedMemory::map_fd(duplicate_fd(read_only.get())), std::system_error);
    SharedMemory mapped = SharedMemory::map_fd(std::move(read_only), ShmAccess::read_only);
    EXPECT_EQ(mapped.data()[1], std::byte{1});
}

TEST_F(SharedMemoryTest, MapFdRejectsBadFds) {
    EXPECT_THROW((void)SharedMemory::map_fd(UniqueFd()), std::system_error);
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd write_end(pipe_fds[1]);
    try {
        (void)SharedMemory::map_fd(UniqueFd(pipe_fds[0]));
        FAIL() << "mapped a pipe";
    } catch (const std::system_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("mmap shared-memory fd"));
    }
}

TEST_F(SharedMemoryTest, RemoveRunRemovesOnlyThatRun) {
    test::TempDir other_dir;
    const std::string other_tag = RunDir::open(other_dir.path()).shm_tag();
    ASSERT_NE(other_tag, tag_);
    SharedMemory other = SharedMemory::create(shm_name(other_tag, "memory"), 4096);

    for (const char* what : {"dom0.memory", "dom1.memory", "dom1.grant-table"}) {
        SharedMemory::create(name(what), 4096).set_owner(false);
    }
    SharedMemory mapped = SharedMemory::create(name("live"), 4096);
    EXPECT_THAT(list_run_shm(tag_), ElementsAre(name("dom0.memory"), name("dom1.grant-table"),
                                                name("dom1.memory"), name("live")));
    EXPECT_EQ(remove_run_shm(tag_), 4u);
    EXPECT_THAT(list_run_shm(tag_), IsEmpty());
    EXPECT_TRUE(shm_exists(other.name()));
    mapped.data()[0] = std::byte{1};  // a live mapping survives the removal
    EXPECT_EQ(remove_run_shm(tag_), 0u);
}

}  // namespace
}  // namespace pvsim::os
