// A block device as backing store: a loop device over an image file, so
// that what goes through the device can be checked against the image's
// bytes. BackingStore's geometry is checked against sysfs, and the I/O of
// every engine (reads, writes, flush, BLKDISCARD, BLKZEROOUT) against the
// image. Needs root, as CI runs the tests.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "backend/storage/backing_store.hpp"
#include "storage_test_support.hpp"
#include "tests/support/loop_device.hpp"
#include "tests/support/page_buffer.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::backend::storage::test {
namespace {

using pvsim::test::LoopDevice;
using pvsim::test::TempDir;
using pvsim::xen::test::PageBuffer;

constexpr std::size_t kPage = 4096;
constexpr std::size_t kImageSize = 4 << 20;

std::vector<std::byte> bytes_at(const void* base, std::size_t size) {
    const auto* p = static_cast<const std::byte*>(base);
    return std::vector<std::byte>(p, p + size);
}

// /sys/block/loopN/<name>, as a number.
std::uint64_t sysfs_number(const std::filesystem::path& device, const std::string& name) {
    const auto path = "/sys/block" / device.filename() / name;
    std::ifstream in(path);
    std::uint64_t value = 0;
    if (!(in >> value)) {
        throw std::runtime_error("cannot read " + path.string());
    }
    return value;
}

class LoopDeviceFixture {
  protected:
    LoopDeviceFixture() {
        write_file(image_, original_);
        loop_.emplace(image_);
    }

    std::vector<std::byte> image_bytes(std::uint64_t offset, std::size_t size) const {
        return read_file(image_, offset, size);
    }
    std::vector<std::byte> original(std::uint64_t offset, std::size_t size) const {
        return std::vector<std::byte>(
            original_.begin() + static_cast<std::ptrdiff_t>(offset),
            original_.begin() + static_cast<std::ptrdiff_t>(offset + size));
    }

    TempDir dir_;
    std::filesystem::path image_ = dir_.path() / "disk.img";
    std::vector<std::byte> original_ = pattern(kImageSize, 9);
    std::optional<LoopDevice> loop_;
};

class BlockDeviceStore : public testing::Test, protected LoopDeviceFixture {};

TEST_F(BlockDeviceStore, DescribesTheDeviceAsTheBlockLayerDoes) {
    const auto store = BackingStore::open(loop_->path());
    EXPECT_TRUE(store.is_block_device());
    EXPECT_TRUE(store.io_target().block_device);
    EXPECT_EQ(store.size_bytes(), kImageSize);
    EXPECT_EQ(store.sectors(), sysfs_number(loop_->path(), "size"));
    EXPECT_EQ(store.logical_sector_size(), sysfs_number(loop_->path(), "queue/logical_block_size"));
    EXPECT_EQ(store.physical_sector_size(),
              sysfs_number(loop_->path(), "queue/physical_block_size"));
    // A loop device over a file discards by punching holes in it.
    EXPECT_TRUE(store.discard_supported());
    EXPECT_EQ(store.discard_granularity(),
              sysfs_number(loop_->path(), "queue/discard_granularity"));
    EXPECT_EQ(store.discard_alignment(), sysfs_number(loop_->path(), "discard_alignment"));
    EXPECT_TRUE(store.write_cache());
    // GENHD_FL_REMOVABLE as the kernel shows it (a loop device has none).
    EXPECT_EQ(store.removable(), sysfs_number(loop_->path(), "removable") == 1);
}

TEST_F(BlockDeviceStore, ReadOnlyOpenHasNoDiscardNorCache) {
    const auto store = BackingStore::open(loop_->path(), OpenOptions{.access = Access::read_only});
    EXPECT_TRUE(store.read_only());
    EXPECT_EQ(store.size_bytes(), kImageSize);
    EXPECT_FALSE(store.discard_supported());
    EXPECT_FALSE(store.write_cache());
}

class BlockDeviceEngine : public testing::TestWithParam<EngineKind>, protected LoopDeviceFixture {};

TEST_P(BlockDeviceEngine, ReadsTheImageBytes) {
    const auto store = BackingStore::open(loop_->path());
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer pages(16 * kPage);
    auto* p = static_cast<std::byte*>(pages.data());
    const std::vector<iovec> segments = {io(p, kPage), io(p + kPage, 7 * kPage),
                                         io(p + 8 * kPage, 8 * kPage)};
    const std::uint64_t offset = 1 << 20;
    ASSERT_TRUE(engine->submit_read(1, offset, segments));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(16 * kPage));
    EXPECT_EQ(bytes_at(p, 16 * kPage), original(offset, 16 * kPage));

    // At the end of the device a read gives 0, as pread(2) on it does.
    const iovec tail = io(p, kPage);
    ASSERT_TRUE(engine->submit_read(2, kImageSize, {&tail, 1}));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), 0);
}

TEST_P(BlockDeviceEngine, WritesReachTheImageOnceFlushed) {
    const auto store = BackingStore::open(loop_->path());
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer pages(8 * kPage);
    const auto data = pattern(8 * kPage, 77);
    std::memcpy(pages.data(), data.data(), data.size());
    const iovec all = io(pages.data(), data.size());
    const std::uint64_t offset = 2 << 20;
    ASSERT_TRUE(engine->submit_write(1, offset, {&all, 1}));
    engine->flush_submissions();
    ASSERT_EQ(wait_one(*engine), static_cast<std::int64_t>(data.size()));
    ASSERT_TRUE(engine->submit_flush(2));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), 0);
    EXPECT_EQ(image_bytes(offset, data.size()), data);
    EXPECT_EQ(image_bytes(offset - kPage, kPage), original(offset - kPage, kPage));
}

TEST_P(BlockDeviceEngine, DiscardAndWriteZeroesReadBackAsZeros) {
    const auto store = BackingStore::open(loop_->path());
    auto engine = engine_for(store.io_target(), GetParam());
    const std::uint64_t discarded = 512 * 1024;
    const std::uint64_t zeroed = 3 << 20;
    const std::size_t length = 16 * kPage;
    ASSERT_TRUE(engine->submit_discard(1, discarded, length));
    ASSERT_TRUE(engine->submit_write_zeroes(2, zeroed, length, false));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 2);
    EXPECT_EQ(results.at(1), 0);
    EXPECT_EQ(results.at(2), 0);

    PageBuffer back(2 * length);
    std::memset(back.data(), 0xee, 2 * length);
    auto* b = static_cast<std::byte*>(back.data());
    const iovec first = io(b, length);
    const iovec second = io(b + length, length);
    ASSERT_TRUE(engine->submit_read(3, discarded, {&first, 1}));
    ASSERT_TRUE(engine->submit_read(4, zeroed, {&second, 1}));
    ASSERT_TRUE(engine->submit_flush(5));
    engine->flush_submissions();
    const auto reads = wait_for(*engine, 3);
    EXPECT_EQ(reads.at(3), static_cast<std::int64_t>(length));
    EXPECT_EQ(reads.at(4), static_cast<std::int64_t>(length));
    EXPECT_EQ(bytes_at(b, 2 * length), zeros(2 * length));

    EXPECT_EQ(image_bytes(discarded, length), zeros(length));
    EXPECT_EQ(image_bytes(zeroed, length), zeros(length));
    EXPECT_EQ(image_bytes(discarded + length, kPage), original(discarded + length, kPage));
}

TEST_P(BlockDeviceEngine, ReadOnlyDeviceRefusesWritesWithEbadf) {
    const auto store = BackingStore::open(loop_->path(), OpenOptions{.access = Access::read_only});
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer page(kPage);
    const iovec one = io(page.data(), kPage);
    ASSERT_TRUE(engine->submit_write(1, 0, {&one, 1}));
    ASSERT_TRUE(engine->submit_discard(2, 0, kPage));
    ASSERT_TRUE(engine->submit_read(3, 0, {&one, 1}));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 3);
    EXPECT_EQ(results.at(1), -EBADF);
    EXPECT_EQ(results.at(2), -EBADF);
    EXPECT_EQ(results.at(3), static_cast<std::int64_t>(kPage));
    EXPECT_EQ(bytes_at(page.data(), kPage), original(0, kPage));
    EXPECT_EQ(image_bytes(0, kImageSize), original_);
}

INSTANTIATE_TEST_SUITE_P(Engines, BlockDeviceEngine,
                         testing::Values(EngineKind::io_uring, EngineKind::threads,
                                         EngineKind::sync),
                         kind_name);

}  // namespace
}  // namespace pvsim::backend::storage::test
