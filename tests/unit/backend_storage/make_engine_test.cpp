// Choosing an engine: the names a vbd option or the CLI may give, "auto"
// taking io_uring wherever the ring can be set up and the thread pool where
// the kernel refuses it (and never sync), and the limits checked.
#include "backend/storage/make_engine.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backend/storage/io_uring_engine.hpp"
#include "backend/storage/sync_engine.hpp"
#include "backend/storage/thread_pool_engine.hpp"
#include "common/os/unique_fd.hpp"
#include "common/units.hpp"
#include "tests/support/refuse_syscall.hpp"

namespace pvsim::backend::storage {
namespace {

using pvsim::test::refuse_syscall_from_now_on;
using ::testing::HasSubstr;

TEST(EngineKindNames, RoundTrip) {
    for (const EngineKind kind :
         {EngineKind::automatic, EngineKind::io_uring, EngineKind::threads, EngineKind::sync}) {
        EXPECT_EQ(parse_engine_kind(to_string(kind)), kind);
    }
    EXPECT_EQ(parse_engine_kind("auto"), EngineKind::automatic);
}

TEST(EngineKindNames, AnUnknownNameIsNamedWithTheChoices) {
    try {
        parse_engine_kind("uring");
        FAIL() << "accepted \"uring\"";
    } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("\"uring\""));
        EXPECT_THAT(e.what(), HasSubstr("auto, io_uring, threads, sync"));
    }
}

// The kernels pvsim runs on offer io_uring with the operations it needs
// (Linux 5.6+, DESIGN.md §5); GivesTheKindAskedFor below needs it as well.
TEST(MakeEngine, AutoTakesIoUringWhereTheKernelOffersIt) {
    const auto engine = make_engine(IoTarget{}, EngineOptions{.queue_depth = 8});
    EXPECT_EQ(engine->name(), "io_uring");
    EXPECT_NE(dynamic_cast<IoUringEngine*>(engine.get()), nullptr);
    EXPECT_EQ(engine->queue_depth(), 8u);
}

// Where io_uring_setup(2) is refused, auto runs on the thread pool and an
// explicit io_uring is an error carrying the kernel's errno. The refusals
// are the kernel's own: ENOSYS from a kernel built without CONFIG_IO_URING
// (kernel/sys_ni.c), EPERM under kernel.io_uring_disabled=2 (Linux 6.6
// io_uring/io_uring.c io_uring_allowed) and from a container's seccomp
// profile; here a seccomp filter on one thread gives them.
TEST(MakeEngine, AutoFallsBackToTheThreadPoolWhereIoUringIsRefused) {
    for (const int refusal : {ENOSYS, EPERM}) {
        std::unique_ptr<IoEngine> chosen;
        int explicit_errno = 0;
        std::thread([&] {
            refuse_syscall_from_now_on(__NR_io_uring_setup, refusal);
            chosen = make_engine(IoTarget{}, EngineOptions{.queue_depth = 4});
            try {
                (void)make_engine(IoTarget{}, EngineOptions{.kind = EngineKind::io_uring});
            } catch (const std::system_error& e) {
                explicit_errno = e.code().value();
            }
        }).join();
        ASSERT_NE(chosen, nullptr) << std::strerror(refusal);
        EXPECT_EQ(chosen->name(), "threads") << std::strerror(refusal);
        const auto* pool = dynamic_cast<ThreadPoolEngine*>(chosen.get());
        ASSERT_NE(pool, nullptr) << std::strerror(refusal);
        EXPECT_EQ(pool->threads(), 4u);  // the depth, below the default eight
        EXPECT_EQ(chosen->queue_depth(), 4u);
        EXPECT_EQ(explicit_errno, refusal) << std::strerror(refusal);
    }
}

// An image on tmpfs: auto reads it on the owner's thread (SyncEngine), as
// tmpfs never waits on a device and io_uring would hand each read to a
// kernel worker; /dev/shm is tmpfs wherever glibc's shm_open works.
TEST(MakeEngine, AutoTakesTheSyncEngineForAnImageOnTmpfs) {
    const std::filesystem::path path =
        std::filesystem::path("/dev/shm") / ("pvsim-make-engine-" + std::to_string(::getpid()));
    os::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd) << std::strerror(errno);
    std::filesystem::remove(path);
    const auto engine = make_engine(IoTarget{fd.get(), false}, EngineOptions{.queue_depth = 8});
    EXPECT_EQ(engine->name(), "sync");
    EXPECT_NE(dynamic_cast<SyncEngine*>(engine.get()), nullptr);
    // Asked for by name, io_uring it is.
    const auto uring =
        make_engine(IoTarget{fd.get(), false}, EngineOptions{.kind = EngineKind::io_uring});
    EXPECT_EQ(uring->name(), "io_uring");
}

TEST(MakeEngine, GivesTheKindAskedFor) {
    const auto uring = make_engine(IoTarget{}, EngineOptions{.kind = EngineKind::io_uring});
    EXPECT_EQ(uring->name(), "io_uring");
    EXPECT_NE(dynamic_cast<IoUringEngine*>(uring.get()), nullptr);
    EXPECT_EQ(uring->queue_depth(), 64u);

    const auto threads = make_engine(IoTarget{}, EngineOptions{.kind = EngineKind::threads});
    EXPECT_EQ(threads->name(), "threads");
    EXPECT_NE(dynamic_cast<ThreadPoolEngine*>(threads.get()), nullptr);

    const auto sync = make_engine(IoTarget{}, EngineOptions{.kind = EngineKind::sync});
    EXPECT_EQ(sync->name(), "sync");
    EXPECT_NE(dynamic_cast<SyncEngine*>(sync.get()), nullptr);
}

TEST(MakeEngine, ThreadCountDefaultsToTheDepthUpToEight) {
    const auto count = [](unsigned depth, unsigned threads) {
        const auto engine = make_engine(
            IoTarget{},
            EngineOptions{.kind = EngineKind::threads, .queue_depth = depth, .threads = threads});
        return dynamic_cast<ThreadPoolEngine&>(*engine).threads();
    };
    EXPECT_EQ(count(64, 0), kDefaultThreads);
    EXPECT_EQ(count(2, 0), 2u);
    EXPECT_EQ(count(64, 3), 3u);
}

TEST(MakeEngine, RefusesADepthOutOfRange) {
    for (const unsigned depth : {0u, kMaxQueueDepth + 1}) {
        try {
            make_engine(IoTarget{}, EngineOptions{.queue_depth = depth});
            ADD_FAILURE() << "accepted queue depth " << depth;
        } catch (const std::invalid_argument& e) {
            EXPECT_THAT(e.what(), HasSubstr("queue depth " + std::to_string(depth)));
        }
    }
    EXPECT_EQ(make_engine(IoTarget{}, EngineOptions{.queue_depth = kMaxQueueDepth})->queue_depth(),
              kMaxQueueDepth);
}

}  // namespace
}  // namespace pvsim::backend::storage
