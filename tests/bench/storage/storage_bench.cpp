// 4 KiB random reads from an image on tmpfs (/dev/shm) and one on disk
// (/var/tmp, page cache warm: it was just written), through each I/O
// engine (io_uring, threads, sync) at queue depth 1 and 32, against the baseline DESIGN.md §10 asks
// every storage figure to be quoted against: plain pread(2) in a loop, in
// this process, on the same image. The page cache keeps the device out of
// it, so what is measured is the engines' own cost: submission, completion,
// and the wake-ups between the owner's loop and the kernel or the worker
// threads. Names read randread_4k/<tmpfs|disk>/<engine>/<depth>/<wait>.
//
// Each benchmark iteration is one I/O (items_per_second is IOPS). The owner
// waits as a data-plane loop does: "poll" sleeps in poll(2) on
// completion_fd() whenever nothing is ready, "spin" polls has_completions()
// without sleeping (the adaptive-polling window of DESIGN.md §10 at its
// widest). Resubmissions are batched: everything reaped is resubmitted with
// one flush_submissions() before the owner waits again.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/storage/backing_store.hpp"
#include "backend/storage/io_engine.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/support/bench_main.hpp"
#include "tests/support/page_buffer.hpp"

namespace {

using pvsim::backend::storage::BackingStore;
using pvsim::backend::storage::EngineKind;
using pvsim::backend::storage::EngineOptions;
using pvsim::backend::storage::IoCompletion;
using pvsim::xen::test::PageBuffer;

constexpr std::size_t kBlock = 4096;
constexpr std::size_t kImageSize = 64 << 20;
constexpr std::size_t kOffsets = 1 << 14;  // a power of two

// An image in `directory`, made once for every benchmark. Its name goes as
// soon as it is open, so that not even a crashed run leaves 64 MiB behind.
struct Environment {
    std::filesystem::path path;
    std::vector<std::uint64_t> offsets;
    std::unique_ptr<BackingStore> store;

    explicit Environment(const std::filesystem::path& directory)
        : path(directory / ("pvsim-storage-bench-" + std::to_string(::getpid()) + ".img")) {
        {
            pvsim::os::UniqueFd fd(
                ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
            if (!fd) {
                pvsim::os::throw_system_error("open " + path.string());
            }
            // Real data in every page: a hole would be read from the zero page.
            std::vector<char> chunk(1 << 20);
            std::mt19937_64 random(1);
            for (std::size_t done = 0; done < kImageSize; done += chunk.size()) {
                for (auto& c : chunk) {
                    c = static_cast<char>(random());
                }
                if (::pwrite(fd.get(), chunk.data(), chunk.size(), static_cast<off_t>(done)) !=
                    static_cast<ssize_t>(chunk.size())) {
                    pvsim::os::throw_system_error("pwrite " + path.string());
                }
            }
        }
        store = std::make_unique<BackingStore>(BackingStore::open(path));
        std::filesystem::remove(path);
        std::mt19937_64 random(2);
        std::uniform_int_distribution<std::uint64_t> block(0, kImageSize / kBlock - 1);
        offsets.resize(kOffsets);
        for (auto& offset : offsets) {
            offset = block(random) * kBlock;
        }
    }
    Environment(const Environment&) = delete;
    Environment& operator=(const Environment&) = delete;

    std::uint64_t offset(std::size_t i) const { return offsets[i & (kOffsets - 1)]; }
};

void report(benchmark::State& state) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlock));
}

// The baseline: one pread(2) per I/O, in this thread.
void pread_baseline(benchmark::State& state, Environment& env) {
    PageBuffer buffer(kBlock);
    const int fd = env.store->fd();
    std::size_t i = 0;
    for (auto _ : state) {
        if (::pread(fd, buffer.data(), kBlock, static_cast<off_t>(env.offset(i++))) !=
            static_cast<ssize_t>(kBlock)) {
            state.SkipWithError("pread failed");
            return;
        }
    }
    report(state);
}

void engine_random_reads(benchmark::State& state, Environment& env, EngineKind kind, unsigned depth,
                         bool spin) {
    EngineOptions options;
    options.kind = kind;
    options.queue_depth = depth;
    // Declared before the engine: reads still running when it goes write here.
    PageBuffer buffers(depth * kBlock);
    const auto engine = pvsim::backend::storage::make_engine(env.store->io_target(), options);
    std::vector<iovec> iov(depth);
    for (unsigned slot = 0; slot < depth; ++slot) {
        iov[slot] = iovec{static_cast<char*>(buffers.data()) + slot * kBlock, kBlock};
    }

    std::size_t next = 0;
    const auto submit = [&](std::uint64_t slot) {
        return engine->submit_read(slot, env.offset(next++), {&iov[slot], 1});
    };
    for (unsigned slot = 0; slot < depth; ++slot) {
        if (!submit(slot)) {
            state.SkipWithError("submit refused below the queue depth");
            return;
        }
    }

    std::vector<std::uint64_t> done;  // slots whose read completed
    done.reserve(depth);
    bool failed = false;
    const auto take = [&](const IoCompletion& completion) {
        failed |= completion.result != static_cast<std::int64_t>(kBlock);
        done.push_back(completion.tag);
    };
    for (auto _ : state) {
        if (done.empty()) {
            engine->flush_submissions();
            while (engine->reap(take) == 0) {
                if (!spin) {
                    pollfd pfd{.fd = engine->completion_fd(), .events = POLLIN, .revents = 0};
                    ::poll(&pfd, 1, -1);
                } else {
                    while (!engine->has_completions()) {
                    }
                }
            }
            if (failed) {
                state.SkipWithError("a read failed");
                return;
            }
        }
        const std::uint64_t slot = done.back();
        done.pop_back();
        if (!submit(slot)) {
            state.SkipWithError("submit refused with a free slot");
            return;
        }
    }
    report(state);
}

}  // namespace

int main(int argc, char** argv) {
    // Made once the arguments are known good; lives as long as the
    // benchmarks that use it.
    std::unique_ptr<Environment> tmpfs;
    std::unique_ptr<Environment> disk;
    return pvsim::test::run_benchmarks(argc, argv, [&] {
        tmpfs = std::make_unique<Environment>("/dev/shm");
        disk = std::make_unique<Environment>("/var/tmp");
        for (const auto& [where, env] : {std::pair{"tmpfs", tmpfs.get()}, {"disk", disk.get()}}) {
            const std::string prefix = std::string("randread_4k/") + where + "/";
            benchmark::RegisterBenchmark((prefix + "pread_baseline").c_str(), pread_baseline,
                                         std::ref(*env))
                ->UseRealTime();
            for (const EngineKind kind :
                 {EngineKind::io_uring, EngineKind::threads, EngineKind::sync}) {
                for (const unsigned depth : {1u, 32u}) {
                    for (const bool spin : {false, true}) {
                        if (kind == EngineKind::sync && spin) {
                            continue;  // its completions are ready when flush_submissions() returns
                        }
                        const std::string name =
                            prefix + std::string(pvsim::backend::storage::to_string(kind)) + "/qd" +
                            std::to_string(depth) + (spin ? "/spin" : "/poll");
                        benchmark::RegisterBenchmark(name.c_str(), engine_random_reads,
                                                     std::ref(*env), kind, depth, spin)
                            ->UseRealTime();
                    }
                }
            }
        }
    });
}
