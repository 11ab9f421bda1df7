// What a flush and a barrier do at the kernel, seen at pvsim-backend's
// system calls (tests/support/syscall_observer.hpp), with the thread-pool
// engine, whose writes are pwritev(2) and whose flush is fdatasync(2):
//
// A write the engine would hand over alone is first tried without waiting
// (pwritev2 with RWF_NOWAIT, IoEngine::served_without_waiting()); the file
// systems these tests run on refuse it for buffered writes (EOPNOTSUPP:
// ext4 up to at least Linux 6.18, tmpfs), so the write itself is always a
// worker's pwritev(2), and the tries are left out of what is counted.
//
// - BLKIF_OP_FLUSH_DISKCACHE is REQ_OP_WRITE | REQ_PREFLUSH with no data in
//   Linux 6.1's dispatch_rw_block_io; its bio ends, and the response goes,
//   once the device has flushed its cache. Here: the response follows
//   fdatasync of the image.
// - BLKIF_OP_WRITE_BARRIER first drains (xen_blk_drain_io waits until no
//   request of the ring is in flight), then writes with REQ_PREFLUSH.
//   blkfront sends it for a request with REQ_PREFLUSH | REQ_FUA
//   (blkif_queue_rw_req), so its own data must be durable too: pvsim writes
//   the barrier's data and then flushes, which also covers every earlier
//   write, done by then. Here: no call of the barrier starts before every
//   earlier write has returned; its fdatasync starts after its pwritev
//   returned; its response follows the fdatasync.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/os/unique_fd.hpp"
#include "tests/integration/blkback/dom0_vbd.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/syscall_observer.hpp"
#include "tests/support/thread_state.hpp"

namespace pvsim::test {
namespace {

using xen::BlkifOp;
using xen::BlkifStatus;

class FlushOrderTest : public BlkbackFixture {
  protected:
    FlushOrderTest() {
        // This fixture's backend goes; its successor runs under the filter,
        // started from a thread of its own so that this process's other
        // threads keep their calls.
        backend_.reset();
        std::thread([this] {
            observer_.watch(notify_on_syscalls(
                {__NR_pwritev, __NR_pwritev2, __NR_pwrite64, __NR_fdatasync, __NR_fsync}));
            backend_.emplace(hv_, std::vector<std::string>{"--io-engine", "threads"});
        }).join();
        image_ = make_image("disk.img", 4 << 20);
        EXPECT_FALSE(writes_without_waiting(image_.parent_path()))
            << "the image's file system takes buffered writes with RWF_NOWAIT: these tests "
               "count on its refusal (see the top of this file)";
        vbd_ = connect_dom0_vbd(dom0_, fe_hv_, image_.string(), 8);
        EXPECT_TRUE(vbd_.connected) << backend_->log();
    }
    ~FlushOrderTest() override {
        // The backend stops before the observer that lets its calls run.
        observer_.release_all();
        backend_.reset();
    }

    // Whether a file in `directory` takes a buffered write with RWF_NOWAIT.
    static bool writes_without_waiting(const std::filesystem::path& directory) {
        const std::filesystem::path path = directory / "nowait-probe";
        const os::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        std::filesystem::remove(path);
        char page[512] = {};
        iovec one{page, sizeof page};
        return fd && ::pwrite(fd.get(), page, sizeof page, 0) == sizeof page &&
               ::pwritev2(fd.get(), &one, 1, 0, RWF_NOWAIT) == sizeof page;
    }

    // The calls made on the image, in the order the kernel saw them, but
    // for writes tried without waiting (refused: see the top of this file).
    std::vector<SyscallObserver::Call> image_calls() const {
        const std::string image = std::filesystem::canonical(image_).string();
        std::vector<SyscallObserver::Call> out;
        for (const auto& call : observer_.calls()) {
            if (call.fd_path == image && !is_nowait_try(call)) {
                out.push_back(call);
            }
        }
        return out;
    }
    std::size_t held_count() const {
        std::size_t count = 0;
        for (const auto& call : image_calls()) {
            count += call.held ? 1 : 0;
        }
        return count;
    }
    // The backend has nothing under way that the observer has not seen.
    bool backend_settled() const { return all_threads_blocked(backend_->pid()); }

    // A write tried without waiting: pwritev2(fd, iov, iovcnt, pos_l, pos_h,
    // flags) with RWF_NOWAIT, refused (see the top of this file).
    static bool is_nowait_try(const SyscallObserver::Call& call) {
        return call.nr == __NR_pwritev2 && (call.args[5] & RWF_NOWAIT) != 0;
    }
    static bool is_write(const SyscallObserver::Call& call) {
        return (call.nr == __NR_pwritev || call.nr == __NR_pwritev2 || call.nr == __NR_pwrite64) &&
               !is_nowait_try(call);
    }
    static bool is_flush(const SyscallObserver::Call& call) {
        return call.nr == __NR_fdatasync || call.nr == __NR_fsync;
    }
    static bool writes_sector(const SyscallObserver::Call& call, std::uint64_t sector) {
        // pwritev(fd, iov, iovcnt, pos_l, pos_h) and pwrite64(fd, buf, count,
        // pos): the offset is the fourth argument on x86-64.
        return is_write(call) && call.args[3] == sector * 512;
    }

    TestFrontend& front() { return *vbd_.front; }

    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
    SyscallObserver observer_;  // after backend_ (the base's): destroyed first,
                                // so the destructor above stops the backend
    std::filesystem::path image_;
    Dom0Vbd vbd_;
};

TEST_F(FlushOrderTest, AFlushIsAnsweredOnlyAfterFdatasyncOfTheImageReturned) {
    front().queue(TestFrontend::rw(BlkifOp::write, 1, 0, {front().segment(0)}));
    front().push();
    ASSERT_EQ(front().wait_responses(1).at(0).status, BlkifStatus::okay);

    observer_.hold([this](const SyscallObserver::Call& call) {
        return is_flush(call) && call.fd_path == std::filesystem::canonical(image_).string();
    });
    front().queue(TestFrontend::rw(BlkifOp::flush_diskcache, 2, 0, {}));
    front().push();
    ASSERT_TRUE(eventually([&] { return held_count() == 1; })) << backend_->log();

    // A read pushed after the flush is answered while the flush's fdatasync
    // has not run: had the flush been answered without waiting for it, its
    // response, made before the read was even taken, would come first.
    front().queue(TestFrontend::rw(BlkifOp::read, 3, 8, {front().segment(1)}));
    front().push();
    const auto first = front().wait_responses(1).at(0);
    EXPECT_EQ(first.id, 3u);
    EXPECT_EQ(first.status, BlkifStatus::okay);

    observer_.release_all();
    const auto flush = front().wait_responses(1).at(0);
    EXPECT_EQ(flush.id, 2u);
    EXPECT_EQ(flush.operation, BlkifOp::flush_diskcache);
    EXPECT_EQ(flush.status, BlkifStatus::okay);

    // On the image: the write, then the flush; nothing else.
    const auto calls = image_calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_TRUE(writes_sector(calls[0], 0));
    EXPECT_TRUE(is_flush(calls[1]));
}

TEST_F(FlushOrderTest, ABarrierStartsAfterEveryEarlierWriteReturnedAndFlushesAfterItsOwnData) {
    // Three writes, then a barrier carrying data, pushed together. The
    // writes are held in the kernel: the backend may not start the barrier
    // meanwhile.
    const std::vector<std::uint64_t> earlier = {0, 8, 16};
    constexpr std::uint64_t kBarrierSector = 24;
    observer_.hold([&](const SyscallObserver::Call& call) { return is_write(call); });
    for (std::size_t i = 0; i < earlier.size(); ++i) {
        front().queue(TestFrontend::rw(BlkifOp::write, i + 1, earlier[i], {front().segment(i)}));
    }
    front().queue(
        TestFrontend::rw(BlkifOp::write_barrier, 4, kBarrierSector, {front().segment(3)}));
    front().push();
    // The pool has eight workers: all three writes start together, and a
    // barrier started beside them would start too. Once every thread of the
    // backend waits, none of its calls is on its way.
    ASSERT_TRUE(eventually([&] { return held_count() >= 3 && backend_settled(); }))
        << backend_->log();
    for (const auto& call : image_calls()) {
        EXPECT_FALSE(writes_sector(call, kBarrierSector) || is_flush(call))
            << "the barrier started while earlier writes were under way (call " << call.nr << ")";
    }

    // Released, the writes return; the barrier's data write comes, held in
    // turn: its flush may not start before it returns.
    observer_.release_all(
        [](const SyscallObserver::Call& call) { return is_write(call) || is_flush(call); });
    ASSERT_TRUE(eventually([&] { return held_count() >= 1 && backend_settled(); }))
        << backend_->log();
    auto calls = image_calls();
    ASSERT_EQ(calls.size(), 4u);
    EXPECT_TRUE(writes_sector(calls.back(), kBarrierSector));

    // Its data written, the flush comes, held: the barrier is not answered
    // before it returns, while a read pushed after it is.
    observer_.release_all([](const SyscallObserver::Call& call) { return is_flush(call); });
    ASSERT_TRUE(eventually([&] { return held_count() == 1; })) << backend_->log();
    front().queue(TestFrontend::rw(BlkifOp::read, 5, 8, {front().segment(4)}));
    front().push();
    // The three writes, in the order they completed, then the read.
    const auto responses = front().wait_responses(4);
    const auto writes = TestFrontend::by_id(
        std::vector<xen::BlkifResponse>(responses.begin(), responses.begin() + 3));
    ASSERT_EQ(writes.size(), 3u);
    for (std::uint64_t id = 1; id <= 3; ++id) {
        EXPECT_EQ(writes.at(id).status, BlkifStatus::okay) << id;
    }
    EXPECT_EQ(responses[3].id, 5u);

    observer_.release_all();
    const auto barrier = front().wait_responses(1).at(0);
    EXPECT_EQ(barrier.id, 4u);
    EXPECT_EQ(barrier.operation, BlkifOp::write_barrier);
    EXPECT_EQ(barrier.status, BlkifStatus::okay);

    calls = image_calls();
    ASSERT_EQ(calls.size(), 5u);
    EXPECT_TRUE(writes_sector(calls[3], kBarrierSector));
    EXPECT_TRUE(is_flush(calls[4]));
}

}  // namespace
}  // namespace pvsim::test
