// BackingStore on image files: what it reports (as Linux blkback reports a
// file served through a loop device) and how it refuses what it cannot use.
#include "backend/storage/backing_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <stdexcept>
#include <system_error>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage_test_support.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::backend::storage::test {
namespace {

using pvsim::test::TempDir;
using ::testing::HasSubstr;

class BackingStoreTest : public testing::Test {
  protected:
    std::filesystem::path image(std::size_t size, const std::string& name = "disk.img") {
        const auto path = dir_.path() / name;
        write_file(path, pattern(size, 1));
        return path;
    }

    // The message of what open() throws.
    std::string open_error(const std::filesystem::path& path, OpenOptions options = {}) {
        try {
            BackingStore::open(path, options);
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        ADD_FAILURE() << "opening " << path << " succeeded";
        return {};
    }

    TempDir dir_;
};

TEST_F(BackingStoreTest, DescribesAnImageFileAsLinuxBlkbackOverALoopDevice) {
    const auto path = image(3 << 20);
    const auto store = BackingStore::open(path);
    EXPECT_EQ(store.path(), path);
    EXPECT_FALSE(store.is_block_device());
    EXPECT_FALSE(store.read_only());
    EXPECT_FALSE(store.direct());
    EXPECT_EQ(store.size_bytes(), 3u << 20);
    EXPECT_EQ(store.sectors(), (3u << 20) / 512);
    EXPECT_EQ(store.logical_sector_size(), 512u);
    EXPECT_EQ(store.physical_sector_size(), 512u);
    EXPECT_TRUE(store.write_cache());

    struct statfs fs {};
    ASSERT_EQ(::statfs(path.c_str(), &fs), 0);
    EXPECT_TRUE(store.discard_supported());
    EXPECT_EQ(store.discard_granularity(), static_cast<std::uint32_t>(fs.f_bsize));
    EXPECT_EQ(store.discard_alignment(), 0u);

    const IoTarget target = store.io_target();
    EXPECT_EQ(target.fd, store.fd());
    EXPECT_FALSE(target.block_device);
}

TEST_F(BackingStoreTest, OpensWithTheVbdAccessMode) {
    const auto path = image(1 << 20);
    const auto read_write = BackingStore::open(path);
    EXPECT_EQ(::fcntl(read_write.fd(), F_GETFL) & O_ACCMODE, O_RDWR);

    const auto read_only = BackingStore::open(path, OpenOptions{.access = Access::read_only});
    EXPECT_EQ(::fcntl(read_only.fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_TRUE(read_only.read_only());
    EXPECT_FALSE(read_only.discard_supported());
    EXPECT_FALSE(read_only.write_cache());
    EXPECT_EQ(read_only.sectors(), 2048u);
}

TEST_F(BackingStoreTest, ProbingDiscardLeavesTheFileAsItWas) {
    const auto path = image(1 << 20);
    struct stat before {};
    ASSERT_EQ(::stat(path.c_str(), &before), 0);
    const auto store = BackingStore::open(path);
    struct stat after {};
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_size, before.st_size);
    EXPECT_EQ(after.st_blocks, before.st_blocks);
    EXPECT_EQ(read_file(path, 0, 1 << 20), pattern(1 << 20, 1));
}

TEST_F(BackingStoreTest, DirectOpenSetsODirect) {
    const auto path = image(1 << 20);
    const auto store = BackingStore::open(path, OpenOptions{.direct = true});
    EXPECT_TRUE(store.direct());
    EXPECT_NE(::fcntl(store.fd(), F_GETFL) & O_DIRECT, 0);
    EXPECT_GE(store.logical_sector_size(), 512u);
    EXPECT_EQ(store.logical_sector_size() % 512, 0u);
}

TEST_F(BackingStoreTest, FdIsCloseOnExecAndClosedWithTheStore) {
    const auto path = image(1 << 20);
    const int before = pvsim::test::count_open_fds();
    {
        auto store = BackingStore::open(path);
        EXPECT_NE(::fcntl(store.fd(), F_GETFD) & FD_CLOEXEC, 0);
        const int fd = store.fd();
        BackingStore moved = std::move(store);
        EXPECT_EQ(moved.fd(), fd);
        EXPECT_EQ(moved.size_bytes(), 1u << 20);
        EXPECT_EQ(pvsim::test::count_open_fds(), before + 1);
    }
    EXPECT_EQ(pvsim::test::count_open_fds(), before);
}

TEST_F(BackingStoreTest, AMissingFileIsNamedWithTheSystemError) {
    const auto missing = dir_.path() / "missing.img";
    EXPECT_EQ(open_error(missing),
              "cannot open " + missing.string() + ": No such file or directory");
    try {
        BackingStore::open(missing);
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
    }
}

TEST_F(BackingStoreTest, ADirectoryIsRefusedInEitherMode) {
    const std::string expected = "cannot open " + dir_.path().string() + ": Is a directory";
    EXPECT_EQ(open_error(dir_.path()), expected);
    EXPECT_EQ(open_error(dir_.path(), OpenOptions{.access = Access::read_only}), expected);
}

TEST_F(BackingStoreTest, ASizeThatIsNotWholeSectorsIsRefused) {
    const auto path = image(1000, "odd.img");
    const std::string message = open_error(path);
    EXPECT_THAT(message, HasSubstr(path.string()));
    EXPECT_THAT(message, HasSubstr("1000 bytes"));
    EXPECT_THAT(message, HasSubstr("512-byte sectors"));
}

TEST_F(BackingStoreTest, ACharacterDeviceIsRefused) {
    EXPECT_EQ(open_error("/dev/null"), "cannot open /dev/null: not a regular file or block device");
}

TEST_F(BackingStoreTest, AnEmptyImageHasNoSectors) {
    const auto store = BackingStore::open(image(0, "empty.img"));
    EXPECT_EQ(store.size_bytes(), 0u);
    EXPECT_EQ(store.sectors(), 0u);
}

}  // namespace
}  // namespace pvsim::backend::storage::test
