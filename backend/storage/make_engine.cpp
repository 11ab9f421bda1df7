#include "backend/storage/make_engine.hpp"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <system_error>

#include <spdlog/spdlog.h>

#include "backend/storage/io_uring_engine.hpp"
#include "backend/storage/sync_engine.hpp"
#include "backend/storage/thread_pool_engine.hpp"
#include "common/units.hpp"

namespace pvsim::backend::storage {
namespace {

// Whether `fd` is a file on tmpfs (not a block device, which tmpfs never is).
bool on_tmpfs(int fd) {
    struct statfs fs {};
    return fd >= 0 && ::fstatfs(fd, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

std::unique_ptr<IoEngine> make_thread_pool(IoTarget target, const EngineOptions& options) {
    const unsigned threads =
        options.threads != 0 ? options.threads : std::min(options.queue_depth, kDefaultThreads);
    return std::make_unique<ThreadPoolEngine>(target, options.queue_depth, threads);
}

}  // namespace

EngineKind parse_engine_kind(std::string_view text) {
    for (const EngineKind kind :
         {EngineKind::automatic, EngineKind::io_uring, EngineKind::threads, EngineKind::sync}) {
        if (text == to_string(kind)) {
            return kind;
        }
    }
    throw ParseError("I/O engine \"" + std::string(text) +
                     "\" is not one of: auto, io_uring, threads, sync");
}

std::string_view to_string(EngineKind kind) noexcept {
    switch (kind) {
        case EngineKind::automatic:
            return "auto";
        case EngineKind::io_uring:
            return "io_uring";
        case EngineKind::threads:
            return "threads";
        case EngineKind::sync:
            return "sync";
    }
    return "?";
}

std::unique_ptr<IoEngine> make_engine(IoTarget target, const EngineOptions& options) {
    if (options.queue_depth == 0 || options.queue_depth > kMaxQueueDepth) {
        throw std::invalid_argument("I/O queue depth " + std::to_string(options.queue_depth) +
                                    " is not between 1 and " + std::to_string(kMaxQueueDepth));
    }
    std::unique_ptr<IoEngine> engine;
    switch (options.kind) {
        case EngineKind::io_uring:
            engine = std::make_unique<IoUringEngine>(target, options.queue_depth);
            break;
        case EngineKind::threads:
            engine = make_thread_pool(target, options);
            break;
        case EngineKind::sync:
            engine = std::make_unique<SyncEngine>(target, options.queue_depth);
            break;
        case EngineKind::automatic:
            if (!target.block_device && on_tmpfs(target.fd)) {
                spdlog::info(
                    "storage: the image is on tmpfs: the sync engine, which reads on "
                    "its own thread (io_uring would hand each read to a kernel worker)");
                engine = std::make_unique<SyncEngine>(target, options.queue_depth);
                break;
            }
            try {
                engine = std::make_unique<IoUringEngine>(target, options.queue_depth);
            } catch (const std::system_error& e) {
                spdlog::warn("storage: io_uring unavailable ({}); using the thread-pool engine",
                             e.what());
                engine = make_thread_pool(target, options);
            }
            break;
    }
    spdlog::info("storage: {} I/O engine, queue depth {}", engine->name(), engine->queue_depth());
    return engine;
}

}  // namespace pvsim::backend::storage
