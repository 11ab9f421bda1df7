// The I/O engines against real image files: every test runs once with each
// (io_uring, the thread pool, sync), and checks what the engine did with
// plain pread(2) on the image.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/storage/backing_store.hpp"
#include "storage_test_support.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/page_buffer.hpp"
#include "tests/support/syscall_observer.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/thread_state.hpp"

namespace pvsim::backend::storage::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace io_engine_test {

using pvsim::test::all_threads_blocked;
using pvsim::test::eventually;
using pvsim::test::notify_on_syscalls;
using pvsim::test::SyscallObserver;
using pvsim::test::TempDir;
using pvsim::xen::test::PageBuffer;

constexpr std::size_t kPage = 4096;
constexpr std::size_t kImageSize = 1 << 20;

std::vector<std::byte> bytes_at(const void* base, std::size_t size) {
    const auto* p = static_cast<const std::byte*>(base);
    return std::vector<std::byte>(p, p + size);
}

class EngineTest : public testing::TestWithParam<EngineKind> {
  protected:
    EngineTest() { write_file(image_, original_); }

    BackingStore open_store(Access access = Access::read_write) {
        return BackingStore::open(image_, OpenOptions{.access = access});
    }

    TempDir dir_;
    std::filesystem::path image_ = dir_.path() / "disk.img";
    std::vector<std::byte> original_ = pattern(kImageSize, 1);
};

// A blkif request's segments: segment i covers sectors first..last of page
// i (first_sect/last_sect in struct blkif_request_segment).
TEST_P(EngineTest, WritesAndReadsBackThroughSectorAlignedSegments) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());

    constexpr int kSegments = 11;
    PageBuffer pages(kSegments * kPage);
    std::vector<iovec> segments;
    std::size_t total = 0;
    for (int i = 0; i < kSegments; ++i) {
        const std::size_t first = static_cast<std::size_t>(i % 4);
        const std::size_t last = 7 - static_cast<std::size_t>(i % 3);
        auto* base = static_cast<std::byte*>(pages.data()) + i * kPage + first * kSectorSize;
        segments.push_back(io(base, (last - first + 1) * kSectorSize));
        total += segments.back().iov_len;
    }
    const auto data = pattern(total, 7);
    std::size_t copied = 0;
    for (const iovec& segment : segments) {
        std::memcpy(segment.iov_base, data.data() + copied, segment.iov_len);
        copied += segment.iov_len;
    }

    const std::uint64_t offset = 3 * kPage + kSectorSize;
    ASSERT_TRUE(engine->submit_write(1, offset, segments));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(total));
    EXPECT_EQ(read_file(image_, offset, total), data);

    // Read back with another split of the same bytes.
    PageBuffer back((total + kPage - 1) / kPage * kPage);
    auto* b = static_cast<std::byte*>(back.data());
    const std::size_t split1 = 5 * kSectorSize;
    const std::size_t split2 = split1 + 17 * kSectorSize;
    const std::vector<iovec> read_segments = {io(b, split1), io(b + split1, split2 - split1),
                                              io(b + split2, total - split2)};
    ASSERT_TRUE(engine->submit_read(2, offset, read_segments));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(total));
    EXPECT_EQ(bytes_at(b, total), data);
}

TEST_P(EngineTest, RunsAWholeQueueDepthAtOnceAndRefusesMore) {
    auto store = open_store();
    constexpr unsigned kDepth = 64;
    auto engine = engine_for(store.io_target(), GetParam(), kDepth);
    EXPECT_EQ(engine->queue_depth(), kDepth);

    PageBuffer out(kDepth * kPage);
    auto* o = static_cast<std::byte*>(out.data());
    std::vector<std::vector<std::byte>> data;
    for (unsigned i = 0; i < kDepth; ++i) {
        data.push_back(pattern(kPage, 100 + i));
        std::memcpy(o + i * kPage, data[i].data(), kPage);
        const iovec one = io(o + i * kPage, kPage);
        ASSERT_TRUE(engine->submit_write(i, i * 2 * kPage, {&one, 1}));
    }
    EXPECT_EQ(engine->in_flight(), kDepth);
    EXPECT_TRUE(engine->full());
    const iovec extra = io(o, kPage);
    EXPECT_FALSE(engine->submit_read(999, 0, {&extra, 1}));
    EXPECT_FALSE(engine->submit_flush(999));
    EXPECT_EQ(engine->in_flight(), kDepth);

    engine->flush_submissions();
    const auto written = wait_for(*engine, kDepth);
    ASSERT_EQ(written.size(), kDepth);
    for (unsigned i = 0; i < kDepth; ++i) {
        EXPECT_EQ(written.at(i), static_cast<std::int64_t>(kPage)) << "write " << i;
        EXPECT_EQ(read_file(image_, i * 2 * kPage, kPage), data[i]) << "write " << i;
    }
    EXPECT_EQ(engine->in_flight(), 0u);

    PageBuffer in(kDepth * kPage);
    auto* r = static_cast<std::byte*>(in.data());
    for (unsigned i = 0; i < kDepth; ++i) {
        const iovec one = io(r + i * kPage, kPage);
        ASSERT_TRUE(engine->submit_read(1000 + i, i * 2 * kPage, {&one, 1}));
    }
    engine->flush_submissions();
    const auto read = wait_for(*engine, kDepth);
    for (unsigned i = 0; i < kDepth; ++i) {
        EXPECT_EQ(read.at(1000 + i), static_cast<std::int64_t>(kPage)) << "read " << i;
        EXPECT_EQ(bytes_at(r + i * kPage, kPage), data[i]) << "read " << i;
    }
}

// An indirect blkif request carries up to 8 * 512 segments; 256 pages in one
// I/O is what Linux blkfront asks for with feature-max-indirect-segments=256.
TEST_P(EngineTest, ReadsOneRequestOf256Segments) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer pages(256 * kPage);
    std::vector<iovec> segments;
    for (std::size_t i = 0; i < 256; ++i) {
        segments.push_back(io(static_cast<std::byte*>(pages.data()) + i * kPage, kPage));
    }
    ASSERT_TRUE(engine->submit_read(7, 0, segments));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(kImageSize));
    EXPECT_EQ(bytes_at(pages.data(), kImageSize), original_);
}

TEST_P(EngineTest, IovecArrayMayBeATemporary) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer page(kPage);
    {
        std::vector<iovec> segments = {
            io(page.data(), kPage / 2),
            io(static_cast<std::byte*>(page.data()) + kPage / 2, kPage / 2)};
        ASSERT_TRUE(engine->submit_read(1, 8 * kPage, segments));
        segments.assign(2, iovec{nullptr, 1});
    }
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(kPage));
    EXPECT_EQ(bytes_at(page.data(), kPage), read_file(image_, 8 * kPage, kPage));
}

TEST_P(EngineTest, FlushCompletesWithZeroAfterWrites) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer page(kPage);
    const auto data = pattern(kPage, 3);
    std::memcpy(page.data(), data.data(), kPage);
    const iovec one = io(page.data(), kPage);
    ASSERT_TRUE(engine->submit_write(1, 0, {&one, 1}));
    engine->flush_submissions();
    ASSERT_EQ(wait_one(*engine), static_cast<std::int64_t>(kPage));
    ASSERT_TRUE(engine->submit_flush(2));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), 0);
    EXPECT_EQ(read_file(image_, 0, kPage), data);
}

TEST_P(EngineTest, DiscardPunchesAHoleThatReadsBackAsZeros) {
    auto store = open_store();
    ASSERT_TRUE(store.discard_supported());
    auto engine = engine_for(store.io_target(), GetParam());
    struct stat before {};
    ASSERT_EQ(::stat(image_.c_str(), &before), 0);

    const std::uint64_t offset = 64 * 1024;
    const std::uint64_t length = 128 * 1024;
    ASSERT_TRUE(engine->submit_discard(1, offset, length));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), 0);

    EXPECT_EQ(read_file(image_, offset, length), zeros(length));
    EXPECT_EQ(read_file(image_, 0, offset),
              std::vector<std::byte>(original_.begin(), original_.begin() + offset));
    EXPECT_EQ(read_file(image_, offset + length, kPage),
              std::vector<std::byte>(original_.begin() + offset + length,
                                     original_.begin() + offset + length + kPage));
    struct stat after {};
    ASSERT_EQ(::stat(image_.c_str(), &after), 0);
    EXPECT_EQ(after.st_size, before.st_size) << "discard must keep the size";
    EXPECT_LT(after.st_blocks, before.st_blocks) << "discard must free the blocks";

    PageBuffer back(length);
    std::memset(back.data(), 0xff, length);
    const iovec all = io(back.data(), length);
    ASSERT_TRUE(engine->submit_read(2, offset, {&all, 1}));
    engine->flush_submissions();
    EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(length));
    EXPECT_EQ(bytes_at(back.data(), length), zeros(length));
}

TEST_P(EngineTest, WriteZeroesZeroesTheRangeWithOrWithoutUnmap) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    ASSERT_TRUE(engine->submit_write_zeroes(1, 0, 8 * kPage, false));
    ASSERT_TRUE(engine->submit_write_zeroes(2, 16 * kPage, 8 * kPage, true));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 2);
    EXPECT_EQ(results.at(1), 0);
    EXPECT_EQ(results.at(2), 0);
    EXPECT_EQ(read_file(image_, 0, 8 * kPage), zeros(8 * kPage));
    EXPECT_EQ(read_file(image_, 16 * kPage, 8 * kPage), zeros(8 * kPage));
    EXPECT_EQ(read_file(image_, 8 * kPage, kPage),
              std::vector<std::byte>(original_.begin() + 8 * kPage, original_.begin() + 9 * kPage));
}

// tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: the completion says
// so rather than the engine pretending.
TEST_P(EngineTest, WriteZeroesWithoutUnmapIsNotSupportedOnTmpfs) {
    const std::filesystem::path shm = "/dev/shm/pvsim-storage-test-" + std::to_string(::getpid()) +
                                      "-" + std::string(to_string(GetParam()));
    write_file(shm, pattern(16 * kPage, 5));
    struct Remove {
        std::filesystem::path path;
        ~Remove() { std::filesystem::remove(path); }
    } remove{shm};
    auto store = BackingStore::open(shm);
    auto engine = engine_for(store.io_target(), GetParam());
    ASSERT_TRUE(engine->submit_write_zeroes(1, 0, 4 * kPage, false));
    ASSERT_TRUE(engine->submit_write_zeroes(2, 8 * kPage, 4 * kPage, true));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 2);
    EXPECT_EQ(results.at(1), -EOPNOTSUPP);
    EXPECT_EQ(results.at(2), 0);
    EXPECT_EQ(read_file(shm, 8 * kPage, 4 * kPage), zeros(4 * kPage));
}

// As pread(2): the bytes up to the end of the file, then 0.
TEST_P(EngineTest, ReadsPastTheEndAreShortAsPreadIs) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer buffer(4 * kPage);
    const iovec two_pages = io(buffer.data(), 2 * kPage);
    ASSERT_TRUE(engine->submit_read(1, kImageSize - kPage, {&two_pages, 1}));
    ASSERT_TRUE(engine->submit_read(2, kImageSize, {&two_pages, 1}));
    ASSERT_TRUE(engine->submit_read(3, kImageSize + (1 << 20), {&two_pages, 1}));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 3);
    EXPECT_EQ(results.at(1),
              static_cast<std::int64_t>(read_file(image_, kImageSize - kPage, 2 * kPage).size()));
    EXPECT_EQ(results.at(1), static_cast<std::int64_t>(kPage));
    EXPECT_EQ(results.at(2), 0);
    EXPECT_EQ(results.at(3), 0);
}

TEST_P(EngineTest, ReadOnlyStoreRefusesWritesWithEbadf) {
    auto store = open_store(Access::read_only);
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer page(kPage);
    std::memset(page.data(), 0xab, kPage);
    const iovec one = io(page.data(), kPage);
    ASSERT_TRUE(engine->submit_write(1, 0, {&one, 1}));
    ASSERT_TRUE(engine->submit_discard(2, 0, kPage));
    ASSERT_TRUE(engine->submit_write_zeroes(3, 0, kPage, true));
    ASSERT_TRUE(engine->submit_read(4, kPage, {&one, 1}));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 4);
    EXPECT_EQ(results.at(1), -EBADF);
    EXPECT_EQ(results.at(2), -EBADF);
    EXPECT_EQ(results.at(3), -EBADF);
    EXPECT_EQ(results.at(4), static_cast<std::int64_t>(kPage));
    EXPECT_EQ(read_file(image_, 0, kImageSize), original_);
}

TEST_P(EngineTest, BadFdCompletesWithEbadf) {
    for (const bool block_device : {false, true}) {
        auto engine = engine_for(IoTarget{-1, block_device}, GetParam());
        PageBuffer page(kPage);
        const iovec one = io(page.data(), kPage);
        ASSERT_TRUE(engine->submit_read(1, 0, {&one, 1}));
        ASSERT_TRUE(engine->submit_write(2, 0, {&one, 1}));
        ASSERT_TRUE(engine->submit_flush(3));
        ASSERT_TRUE(engine->submit_discard(4, 0, kPage));
        engine->flush_submissions();
        const auto results = wait_for(*engine, 4);
        for (std::uint64_t tag = 1; tag <= 4; ++tag) {
            EXPECT_EQ(results.at(tag), -EBADF) << "tag " << tag << " block=" << block_device;
        }
    }
}

TEST_P(EngineTest, CompletionFdWakesPollAndIsQuietOnceReapedAndAskedForAgain) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    pollfd pfd{.fd = engine->completion_fd(), .events = POLLIN, .revents = 0};
    EXPECT_EQ(::poll(&pfd, 1, 0), 0);
    EXPECT_FALSE(engine->has_completions());

    PageBuffer page(kPage);
    const iovec one = io(page.data(), kPage);
    ASSERT_TRUE(engine->submit_read(5, 0, {&one, 1}));
    engine->flush_submissions();
    pfd.fd = engine->completion_fd();  // asked for again before sleeping (io_engine.hpp)
    ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
    EXPECT_TRUE(pfd.revents & POLLIN);
    EXPECT_TRUE(engine->has_completions());

    std::vector<IoCompletion> seen;
    EXPECT_EQ(engine->reap([&](const IoCompletion& c) { seen.push_back(c); }), 1u);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].tag, 5u);
    EXPECT_EQ(seen[0].result, static_cast<std::int64_t>(kPage));
    EXPECT_FALSE(engine->has_completions());
    pfd.fd = engine->completion_fd();
    EXPECT_EQ(::poll(&pfd, 1, 0), 0);
    EXPECT_EQ(engine->reap([](const IoCompletion&) {}), 0u);
}

// An owner that takes fewer completions than are ready is still woken for
// the rest.
TEST_P(EngineTest, PartialReapsLoseNoWakeUp) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer pages(8 * kPage);
    for (std::uint64_t i = 0; i < 8; ++i) {
        const iovec one = io(static_cast<std::byte*>(pages.data()) + i * kPage, kPage);
        ASSERT_TRUE(engine->submit_read(i, i * kPage, {&one, 1}));
    }
    engine->flush_submissions();
    std::size_t got = 0;
    while (got < 8) {
        pollfd pfd{.fd = engine->completion_fd(), .events = POLLIN, .revents = 0};
        ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "asleep with " << 8 - got << " to come";
        IoCompletion one{};
        got += engine->reap_into({&one, 1});
    }
    EXPECT_EQ(engine->in_flight(), 0u);
    EXPECT_EQ(bytes_at(pages.data(), 8 * kPage),
              std::vector<std::byte>(original_.begin(), original_.begin() + 8 * kPage));
}

// Nothing reaches the kernel before flush_submissions(), seen at the system
// calls that would start a read (tests/support/syscall_observer.hpp): the
// engine is made in a thread under a filter that reports preadv(2) and
// io_uring_enter(2), so its workers (the thread pool's) are reported too.
// Once every other thread of this process waits, a read under way would be
// visible: a worker woken for it would be running or stopped in its call.
TEST_P(EngineTest, NothingStartsBeforeFlushSubmissions) {
    SyscallObserver observer;
    std::thread([&] {
        observer.watch(notify_on_syscalls({__NR_preadv, __NR_preadv2, __NR_io_uring_enter}));
        auto store = open_store();
        auto engine = engine_for(store.io_target(), GetParam());
        PageBuffer page(kPage);
        const iovec one = io(page.data(), kPage);
        const std::size_t before = observer.calls().size();
        ASSERT_TRUE(engine->submit_read(1, 0, {&one, 1}));
        const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
        ASSERT_TRUE(eventually([&] { return all_threads_blocked(::getpid(), self); }));
        EXPECT_EQ(observer.calls().size(), before);
        EXPECT_FALSE(engine->has_completions());
        EXPECT_EQ(engine->reap([](const IoCompletion&) {}), 0u);

        engine->flush_submissions();
        EXPECT_EQ(wait_one(*engine), static_cast<std::int64_t>(kPage));
        EXPECT_GT(observer.calls().size(), before);
    }).join();
}

// The read and write system calls a thread has made, as the kernel counts
// them (/proc/PID/task/TID/io: syscr, syscw), read from another thread.
std::pair<std::uint64_t, std::uint64_t> thread_read_write_calls(pid_t tid) {
    std::ifstream io("/proc/self/task/" + std::to_string(tid) + "/io");
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    for (std::string key; io >> key;) {
        std::uint64_t value = 0;
        io >> value;
        if (key == "syscr:") {
            reads = value;
        } else if (key == "syscw:") {
            writes = value;
        }
    }
    return {reads, writes};
}

// The sync engine's round, reaped before its owner would sleep as the
// data-plane loop reaps, makes the read and no other read or write call:
// its completion eventfd is written (and read back) only for an owner that
// asks for the fd with completions waiting.
TEST(SyncEngine, ARoundReapedBeforeSleepingMakesOnlyTheRead) {
    TempDir dir;
    const std::filesystem::path path = dir.path() / "store.img";
    write_file(path, pattern(kPage, 2));
    auto store = BackingStore::open(path, OpenOptions{});
    auto engine = engine_for(store.io_target(), EngineKind::sync);
    PageBuffer page(kPage);
    const iovec one = io(page.data(), kPage);
    std::mutex mutex;
    std::condition_variable changed;
    int step = 0;  // 1: the owner's tid is known; 2: counted; 3: rounds done
    pid_t owner = 0;
    const auto advance_to = [&](int next) {
        std::lock_guard lock(mutex);
        step = next;
        changed.notify_all();
    };
    const auto wait_for_step = [&](int wanted) {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return step >= wanted; });
    };
    std::thread rounds([&] {
        owner = static_cast<pid_t>(::syscall(SYS_gettid));
        advance_to(1);
        wait_for_step(2);
        for (std::uint64_t round = 0; round < 3; ++round) {
            EXPECT_TRUE(engine->submit_read(round, 0, {&one, 1}));
            engine->flush_submissions();
            EXPECT_TRUE(engine->has_completions());
            EXPECT_EQ(engine->reap([](const IoCompletion&) {}), 1u);
        }
        advance_to(3);
        wait_for_step(4);
    });
    wait_for_step(1);
    const auto before = thread_read_write_calls(owner);
    advance_to(2);
    wait_for_step(3);
    const auto after = thread_read_write_calls(owner);
    advance_to(4);
    rounds.join();
    EXPECT_EQ(after.first - before.first, 3u) << "read calls: the three preadv";
    EXPECT_EQ(after.second - before.second, 0u) << "write calls";
}

TEST_P(EngineTest, ACallbackMaySubmitIntoTheSlotItFreed) {
    auto store = open_store();
    auto engine = engine_for(store.io_target(), GetParam(), 1);
    PageBuffer page(kPage);
    const iovec one = io(page.data(), kPage);
    ASSERT_TRUE(engine->submit_read(0, 0, {&one, 1}));
    engine->flush_submissions();
    std::uint64_t next = 1;
    std::size_t done = 0;
    while (done < 16) {
        pollfd pfd{.fd = engine->completion_fd(), .events = POLLIN, .revents = 0};
        ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
        engine->reap([&](const IoCompletion& c) {
            EXPECT_EQ(c.result, static_cast<std::int64_t>(kPage)) << "tag " << c.tag;
            ++done;
            if (next < 16) {
                EXPECT_TRUE(engine->submit_read(next, next * kPage, {&one, 1}));
                ++next;
            }
        });
        engine->flush_submissions();
    }
    EXPECT_EQ(engine->in_flight(), 0u);
}

TEST_P(EngineTest, ODirectStoreNeedsAlignedMemory) {
    auto store = BackingStore::open(image_, OpenOptions{.direct = true});
    auto engine = engine_for(store.io_target(), GetParam());
    PageBuffer pages(3 * kPage);
    const iovec aligned = io(pages.data(), kPage);
    const iovec misaligned = io(static_cast<std::byte*>(pages.data()) + kPage + 1, kPage);
    ASSERT_TRUE(engine->submit_read(1, kPage, {&aligned, 1}));
    ASSERT_TRUE(engine->submit_read(2, kPage, {&misaligned, 1}));
    engine->flush_submissions();
    const auto results = wait_for(*engine, 2);
    EXPECT_EQ(results.at(1), static_cast<std::int64_t>(kPage));
    EXPECT_EQ(bytes_at(pages.data(), kPage),
              std::vector<std::byte>(original_.begin() + kPage, original_.begin() + 2 * kPage));
    EXPECT_EQ(results.at(2), -EINVAL);
}

TEST_P(EngineTest, DestroyingWithIoInFlightReturnsAndClosesItsFds) {
    auto store = open_store();
    PageBuffer pages(32 * kPage);
    const int fds_before = pvsim::test::count_open_fds();
    {
        auto engine = engine_for(store.io_target(), GetParam(), 32);
        for (std::uint64_t i = 0; i < 32; ++i) {
            const iovec one = io(static_cast<std::byte*>(pages.data()) + i * kPage, kPage);
            ASSERT_TRUE(engine->submit_read(i, i * kPage, {&one, 1}));
        }
        engine->flush_submissions();
        const iovec last = io(pages.data(), kPage);
        EXPECT_FALSE(engine->submit_read(99, 0, {&last, 1}));
    }
    EXPECT_EQ(pvsim::test::count_open_fds(), fds_before);
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest,
                         testing::Values(EngineKind::io_uring, EngineKind::threads,
                                         EngineKind::sync),
                         kind_name);

}  // namespace io_engine_test
}  // namespace pvsim::backend::storage::test
