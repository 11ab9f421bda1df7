// Choosing an engine: the names a vbd option or the CLI may give, "auto"
// taking io_uring wherever the ring can be set up (and never sync), and the
// limits checked.
#include "backend/storage/make_engine.hpp"

#include <stdexcept>
#include <system_error>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backend/storage/io_uring_engine.hpp"
#include "backend/storage/sync_engine.hpp"
#include "backend/storage/thread_pool_engine.hpp"
#include "common/units.hpp"

namespace pvsim::backend::storage {
namespace {

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

// Whatever the machine: auto gives io_uring exactly when a ring can be set up.
TEST(MakeEngine, AutoTakesIoUringWhereverItCanBeSetUp) {
    bool io_uring_works = true;
    try {
        IoUringEngine probe(IoTarget{}, 8);
    } catch (const std::system_error&) {
        io_uring_works = false;
    }
    const auto engine = make_engine(IoTarget{}, EngineOptions{.queue_depth = 8});
    EXPECT_EQ(engine->name(), io_uring_works ? "io_uring" : "threads");
    EXPECT_EQ(engine->queue_depth(), 8u);
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
