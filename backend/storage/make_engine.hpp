// Choosing an I/O engine (DESIGN.md §5: "io_uring through liburing, with a
// thread-pool fallback where io_uring is unavailable"). "auto" takes io_uring
// and falls back to the thread pool when the ring cannot be set up (an old
// kernel, a seccomp filter, kernel.io_uring_disabled), saying so in the log;
// for an image on tmpfs (fstatfs: TMPFS_MAGIC) it takes "sync" (SyncEngine):
// tmpfs never waits on a device, and cannot read without blocking, so
// io_uring would hand every I/O to a kernel worker and the pool to one of
// its threads, a wake-up each (docs/performance.md: 0.4x fio at QD32 on
// tmpfs against 1.5x on a disk file's page cache).
#pragma once

#include <memory>
#include <string_view>

#include "backend/storage/io_engine.hpp"

namespace pvsim::backend::storage {

enum class EngineKind { automatic, io_uring, threads, sync };

// "auto", "io_uring", "threads" or "sync"; ParseError (common/units.hpp) otherwise,
// naming the text and the accepted names.
EngineKind parse_engine_kind(std::string_view text);
std::string_view to_string(EngineKind kind) noexcept;

struct EngineOptions {
    EngineKind kind = EngineKind::automatic;
    // I/Os in flight at most, 1 to kMaxQueueDepth.
    unsigned queue_depth = 64;
    // ThreadPoolEngine workers; 0 takes min(queue_depth, kDefaultThreads).
    unsigned threads = 0;
};

inline constexpr unsigned kMaxQueueDepth = 4096;
inline constexpr unsigned kDefaultThreads = 8;

// An engine doing I/O on `target`. Throws std::invalid_argument for options
// out of range, and std::system_error when the kind asked for explicitly
// cannot be set up.
std::unique_ptr<IoEngine> make_engine(IoTarget target, const EngineOptions& options = {});

}  // namespace pvsim::backend::storage
