// The first try without waiting of the engines that hand their I/O over
// (IoEngine::served_without_waiting(): io_uring's ring, the thread pool's
// workers): which system calls a read or write reaches the kernel as, seen
// by the kernel (tests/support/syscall_observer.hpp), on an image whose
// pages the page cache holds, one whose pages it does not, one on tmpfs and
// one opened O_DIRECT. Each test runs with both engines; an I/O handed over
// is an io_uring_enter(2) for io_uring, a worker's preadv(2) or pwritev(2)
// for the thread pool. Counts, not times: the times are in
// tests/bench/storage.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/storage/backing_store.hpp"
#include "storage_test_support.hpp"
#include "tests/support/page_buffer.hpp"
#include "tests/support/syscall_observer.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::backend::storage::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace nowait_first_test {

using pvsim::test::notify_on_syscalls;
using pvsim::test::SyscallObserver;
using pvsim::test::TempDir;
using pvsim::xen::test::PageBuffer;

constexpr std::size_t kPage = 4096;
constexpr std::size_t kImageSize = 16 * kPage;

// Whether a file in `directory` reads its cached pages with RWF_NOWAIT,
// asked of the kernel with a file of its own.
bool reads_without_waiting(const std::filesystem::path& directory) {
    const TempDir dir(directory);
    const std::filesystem::path path = dir.path() / "probe.img";
    write_file(path, pattern(kPage, 9));
    os::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::vector<std::byte> page(kPage);
    iovec one{page.data(), kPage};
    return fd && ::preadv2(fd.get(), &one, 1, 0, RWF_NOWAIT) == static_cast<ssize_t>(kPage);
}

// A directory on a file system with a page cache that serves reads without
// waiting (ext4, xfs, btrfs): /var/tmp, which Debian keeps on disk, or /tmp.
std::filesystem::path disk_directory() {
    for (const std::filesystem::path candidate : {"/var/tmp", "/tmp"}) {
        if (reads_without_waiting(candidate)) {
            return candidate;
        }
    }
    ADD_FAILURE() << "neither /var/tmp nor /tmp is on a file system whose cached pages "
                     "preadv2(RWF_NOWAIT) reads";
    return "/var/tmp";
}

// Drops page `page` of the file `fd` from the page cache: written back,
// then dropped with POSIX_FADV_DONTNEED, which skips a page it finds busy
// (still on a CPU's list of pages being added to the LRU, say), so until
// mincore(2) over a mapping of the file says it is gone.
void drop_from_page_cache(int fd, std::size_t page) {
    void* map = ::mmap(nullptr, kImageSize, PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(map, MAP_FAILED) << std::strerror(errno);
    bool dropped = false;
    for (int attempt = 0; attempt < 1000 && !dropped; ++attempt) {
        ASSERT_EQ(::fdatasync(fd), 0);
        ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        unsigned char resident[kImageSize / kPage] = {};
        ASSERT_EQ(::mincore(map, kImageSize, resident), 0) << std::strerror(errno);
        dropped = (resident[page] & 1) == 0;
        if (!dropped) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    ::munmap(map, kImageSize);
    ASSERT_TRUE(dropped) << "page " << page << " stayed in the page cache";
}

// The calls of each kind an engine made.
struct Calls {
    std::size_t preadv2 = 0;
    std::size_t pwritev2 = 0;
    std::size_t handed_over = 0;
};

class NowaitFirstTest : public testing::TestWithParam<EngineKind> {
  protected:
    // Writes the image into a directory of its own under `parent`; then, in
    // a thread of its own under a filter that reports preadv2(2),
    // pwritev2(2), io_uring_enter(2), preadv(2) and pwritev(2) from it and
    // the workers it starts, opens the image with `options`, runs `prepare`
    // on the store, makes an engine of the test's kind and runs `step`.
    // Returns the calls made during `step`.
    Calls calls_on(
        const std::filesystem::path& parent, const OpenOptions& options,
        const std::function<void(IoEngine&)>& step,
        const std::function<void(const BackingStore&)>& prepare = [](const BackingStore&) {}) {
        const TempDir dir(parent);
        write_file(dir.path() / "disk.img", original_);
        SyscallObserver observer;
        std::size_t before = 0;
        std::thread([&] {
            observer.watch(notify_on_syscalls(
                {__NR_preadv2, __NR_pwritev2, __NR_io_uring_enter, __NR_preadv, __NR_pwritev}));
            const auto store = BackingStore::open(dir.path() / "disk.img", options);
            prepare(store);
            const auto engine = engine_for(store.io_target(), GetParam(), 8);
            before = observer.calls().size();
            step(*engine);
        }).join();
        const auto calls = observer.calls();
        Calls counted;
        for (std::size_t i = before; i < calls.size(); ++i) {
            const long nr = calls[i].nr;
            counted.preadv2 += nr == __NR_preadv2;
            counted.pwritev2 += nr == __NR_pwritev2;
            counted.handed_over +=
                nr == __NR_io_uring_enter || nr == __NR_preadv || nr == __NR_pwritev;
        }
        return counted;
    }

    // Reads page `page` of the store through `engine` alone (one request
    // per flush), expecting the image's bytes there.
    void read_page(IoEngine& engine, std::uint64_t tag, std::size_t page) {
        const iovec one = io(buffer_.data(), kPage);
        ASSERT_TRUE(engine.submit_read(tag, page * kPage, {&one, 1}));
        engine.flush_submissions();
        EXPECT_EQ(wait_one(engine), static_cast<std::int64_t>(kPage));
        const auto* at = static_cast<const std::byte*>(buffer_.data());
        EXPECT_TRUE(std::equal(at, at + kPage, original_.begin() + page * kPage));
    }

    std::vector<std::byte> original_ = pattern(kImageSize, 4);
    PageBuffer buffer_{kPage};
};

// Linux serves a read of cached pages with RWF_NOWAIT at once
// (filemap_read(), mm/filemap.c), so a lone read need not be handed over.
TEST_P(NowaitFirstTest, ALoneReadOfCachedPagesIsServedByOnePreadv2AndNotHandedOver) {
    const Calls calls = calls_on(disk_directory(), OpenOptions{}, [&](IoEngine& engine) {
        const iovec one = io(buffer_.data(), kPage);
        ASSERT_TRUE(engine.submit_read(1, 3 * kPage, {&one, 1}));
        engine.flush_submissions();
        EXPECT_TRUE(engine.has_completions()) << "complete when flush_submissions() returns";
        EXPECT_EQ(wait_one(engine), static_cast<std::int64_t>(kPage));
    });
    EXPECT_EQ(calls.preadv2, 1u);
    EXPECT_EQ(calls.handed_over, 0u);
    const auto* at = static_cast<const std::byte*>(buffer_.data());
    EXPECT_TRUE(std::equal(at, at + kPage, original_.begin() + 3 * kPage));
}

// Handing over a batch costs less than a system call per read (one
// io_uring_enter(2) for the whole batch; workers woken together), so none
// of its reads is tried on its own.
TEST_P(NowaitFirstTest, ABatchOfReadsIsHandedOverWhole) {
    PageBuffer pages(4 * kPage);
    const Calls calls = calls_on(disk_directory(), OpenOptions{}, [&](IoEngine& engine) {
        for (std::uint64_t i = 0; i < 4; ++i) {
            const iovec one = io(static_cast<std::byte*>(pages.data()) + i * kPage, kPage);
            ASSERT_TRUE(engine.submit_read(i, (i + 5) * kPage, {&one, 1}));
        }
        engine.flush_submissions();
        EXPECT_EQ(wait_for(engine, 4).size(), 4u);
    });
    EXPECT_EQ(calls.preadv2, 0u);
    // One io_uring_enter(2), or each worker's preadv(2).
    EXPECT_EQ(calls.handed_over, GetParam() == EngineKind::io_uring ? 1u : 4u);
    const auto* at = static_cast<const std::byte*>(pages.data());
    EXPECT_TRUE(std::equal(at, at + 4 * kPage, original_.begin() + 5 * kPage));
}

// Pages the page cache does not hold make preadv2(RWF_NOWAIT) answer EAGAIN
// (filemap_get_pages(), mm/filemap.c): the read is then handed over, and
// the next lone read is tried without waiting again.
TEST_P(NowaitFirstTest, AReadOfPagesNotCachedIsHandedOverAndTheNextIsTriedAgain) {
    const Calls calls = calls_on(
        disk_directory(), OpenOptions{},
        [&](IoEngine& engine) {
            read_page(engine, 1, 7);
            read_page(engine, 2, 7);
        },
        [](const BackingStore& store) { drop_from_page_cache(store.fd(), 7); });
    EXPECT_EQ(calls.preadv2, 2u);
    EXPECT_EQ(calls.handed_over, 1u) << "only the read of pages not cached is handed over";
}

// tmpfs cannot read or write without waiting (EOPNOTSUPP: its files lack
// FMODE_NOWAIT): each is asked once, and every later transfer is handed
// over at once.
TEST_P(NowaitFirstTest, ATmpfsStoreIsAskedOnceForEachOperationThenHandedEverything) {
    const Calls calls = calls_on("/dev/shm", OpenOptions{}, [&](IoEngine& engine) {
        read_page(engine, 1, 2);
        read_page(engine, 2, 3);
        const iovec one = io(buffer_.data(), kPage);
        for (std::uint64_t tag = 3; tag < 5; ++tag) {
            ASSERT_TRUE(engine.submit_write(tag, 2 * kPage, {&one, 1}));
            engine.flush_submissions();
            EXPECT_EQ(wait_one(engine), static_cast<std::int64_t>(kPage));
        }
    });
    EXPECT_EQ(calls.preadv2, 1u);
    EXPECT_EQ(calls.pwritev2, 1u);
    EXPECT_EQ(calls.handed_over, 4u);
}

// With O_DIRECT a read without waiting still waits for its device (the
// block layer's REQ_NOWAIT only refuses to queue), so it is never tried.
TEST_P(NowaitFirstTest, AnODirectStoreIsNeverTriedWithoutWaiting) {
    const Calls calls = calls_on(disk_directory(), OpenOptions{.direct = true},
                                 [&](IoEngine& engine) { read_page(engine, 1, 4); });
    EXPECT_EQ(calls.preadv2, 0u);
    EXPECT_EQ(calls.handed_over, 1u);
}

INSTANTIATE_TEST_SUITE_P(Engines, NowaitFirstTest,
                         testing::Values(EngineKind::io_uring, EngineKind::threads), kind_name);

}  // namespace nowait_first_test
}  // namespace pvsim::backend::storage::test
