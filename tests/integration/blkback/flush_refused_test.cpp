// A store that refuses flushes (Linux blkback.c __end_block_io_op, 4.x to
// 6.x): a BLKIF_OP_FLUSH_DISKCACHE or BLKIF_OP_WRITE_BARRIER whose flush
// the device answers -EOPNOTSUPP (BLK_STS_NOTSUPP) is answered
// BLKIF_RSP_EOPNOTSUPP, and the backend writes feature-flush-cache or
// feature-barrier 0 (xen_blkbk_flush_diskcache / xen_blkbk_barrier with
// XBT_NIL). The refusal is the kernel's: pvsim-backend runs under a seccomp
// filter that answers fdatasync(2) EOPNOTSUPP (as a FUSE file system whose
// server does may), with the thread-pool engine, whose flush is fdatasync.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/blkback/dom0_vbd.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/refuse_syscall.hpp"

namespace pvsim::test {
namespace {

using tools::toolstack::VbdPaths;
using xen::BlkifOp;
using xen::BlkifStatus;
using xen::XenbusState;

class FlushRefusedTest : public BlkbackFixture {
  protected:
    FlushRefusedTest() {
        // The backend this fixture started goes; its successor refuses. It
        // is started from a thread of its own, whose filter it inherits, so
        // that this process's other threads (and the tests run after this
        // one in it) keep their fdatasync.
        backend_.reset();
        std::thread([this] {
            refuse_syscall_from_now_on(__NR_fdatasync, EOPNOTSUPP);
            backend_.emplace(hv_, std::vector<std::string>{"--io-engine", "threads"});
        }).join();
    }

    std::unique_ptr<TestFrontend> connect_frontend(VbdPaths& paths) {
        Dom0Vbd vbd = connect_dom0_vbd(dom0_, fe_hv_, make_image("disk.img", 4 << 20).string(), 2);
        EXPECT_TRUE(vbd.connected) << backend_->log();
        paths = vbd.paths;
        return std::move(vbd.front);
    }

    xen::BlkifResponse answer(TestFrontend& front, const xen::BlkifRequest& request) {
        front.queue(request);
        front.push();
        return front.wait_responses(1).at(0);
    }

    hypervisor::Hypervisor fe_hv_ = hv_.connect_dom0();
};

TEST_F(FlushRefusedTest, RefusedFlushAndBarrierAreEopnotsuppAndTurnTheirKeysOffAsEndBlockIoOp) {
    VbdPaths paths;
    auto front = connect_frontend(paths);
    // Offered at Connected: the image is writable, so it has a cache.
    ASSERT_EQ(read(paths.backend + "/feature-flush-cache"), "1");
    ASSERT_EQ(read(paths.backend + "/feature-barrier"), "1");

    const auto flush = answer(*front, TestFrontend::rw(BlkifOp::flush_diskcache, 1, 0, {}));
    EXPECT_EQ(flush.status, BlkifStatus::eopnotsupp);
    EXPECT_EQ(flush.operation, BlkifOp::flush_diskcache);
    EXPECT_TRUE(eventually([&] { return read(paths.backend + "/feature-flush-cache") == "0"; },
                           kStateTimeout))
        << backend_->log();
    EXPECT_EQ(read(paths.backend + "/feature-barrier"), "1");

    // A barrier carrying data: the write is done, its flush refused.
    const auto barrier =
        answer(*front, TestFrontend::rw(BlkifOp::write_barrier, 2, 8, {front->segment(0)}));
    EXPECT_EQ(barrier.status, BlkifStatus::eopnotsupp);
    EXPECT_TRUE(
        eventually([&] { return read(paths.backend + "/feature-barrier") == "0"; }, kStateTimeout))
        << backend_->log();

    // Nothing else changes: the vbd stays Connected and serves writes.
    EXPECT_EQ(answer(*front, TestFrontend::rw(BlkifOp::write, 3, 16, {front->segment(1)})).status,
              BlkifStatus::okay);
    EXPECT_EQ(read(paths.backend + "/state"), "4");
    EXPECT_TRUE(backend_->alive());
}

}  // namespace
}  // namespace pvsim::test
