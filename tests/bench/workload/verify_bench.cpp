// What --verify crc32c costs a guest per 4 KiB block, beside the copy every
// read pays anyway: making a block to write (its pattern and checksum),
// checking a block read back (a fresh expected block, compared), and the
// checksum alone with each engine (SSE4.2's crc32 instruction, the table),
// against memcpy of the same bytes. Each iteration is one block
// (items_per_second is blocks a second; bytes_per_second their bytes).
// And what a verifying read looks up first: the block written at its offset
// (WrittenBlocks::lookup), on one 64 MiB disk written whole in 4 KiB blocks
// and on 32 such disks at once, as the scale run's 32 guests each keep one,
// whose records together no longer fit a CPU's caches.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "frontend/workload/crc32c.hpp"
#include "frontend/workload/splitmix.hpp"
#include "frontend/workload/verify_block.hpp"
#include "frontend/workload/written_blocks.hpp"
#include "tests/support/bench_main.hpp"

namespace {

using pvsim::frontend::workload::BlockIdentity;
using pvsim::frontend::workload::Crc32c;

constexpr std::size_t kBlock = 4096;

void count(benchmark::State& state) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBlock));
}

void memcpy_baseline(benchmark::State& state) {
    std::vector<std::byte> from(kBlock, std::byte{0x5a});
    std::vector<std::byte> to(kBlock);
    for (auto _ : state) {
        std::memcpy(to.data(), from.data(), kBlock);
        benchmark::DoNotOptimize(to.data());
        benchmark::ClobberMemory();
    }
    count(state);
}

void crc(benchmark::State& state, Crc32c::Engine engine) {
    std::vector<std::byte> block(kBlock, std::byte{0x5a});
    for (auto _ : state) {
        Crc32c sum(engine);
        sum.update(block);
        benchmark::DoNotOptimize(sum.value());
    }
    count(state);
}

void make_block(benchmark::State& state) {
    std::vector<std::byte> block(kBlock);
    std::uint64_t generation = 0;
    for (auto _ : state) {
        pvsim::frontend::workload::make_block(BlockIdentity{0x10000, kBlock, 7, ++generation},
                                              block);
        benchmark::DoNotOptimize(block.data());
    }
    count(state);
}

void check_block(benchmark::State& state) {
    const BlockIdentity identity{0x10000, kBlock, 7, 3};
    std::vector<std::byte> block(kBlock);
    pvsim::frontend::workload::make_block(identity, block);
    std::vector<std::byte> scratch;
    for (auto _ : state) {
        const std::string problem =
            pvsim::frontend::workload::check_block(identity, identity.offset, block, scratch);
        if (!problem.empty()) {
            state.SkipWithError(problem.c_str());
            break;
        }
    }
    count(state);
}

void lookup(benchmark::State& state) {
    constexpr std::uint64_t kBlocks = 64 * 1024 * 1024 / kBlock;
    std::vector<pvsim::frontend::workload::WrittenBlocks> disks(
        static_cast<std::size_t>(state.range(0)));
    for (auto& disk : disks) {
        // In order, as a sequential verified write job completes its blocks.
        for (std::uint64_t b = 0; b < kBlocks; ++b) {
            disk.record(BlockIdentity{b * kBlock, kBlock, 7, disk.next_generation()});
        }
    }
    pvsim::frontend::workload::SplitMix64 random(42);
    for (auto _ : state) {
        const std::uint64_t r = random.next();
        const auto& disk = disks[(r >> 32) % disks.size()];
        const auto pieces = disk.lookup((r % kBlocks) * kBlock, kBlock);
        if (pieces.size() != 1) {
            state.SkipWithError("a written block was not found");
            break;
        }
        benchmark::DoNotOptimize(pieces.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
    return pvsim::test::run_benchmarks(argc, argv, [] {
        benchmark::RegisterBenchmark("verify_4k/memcpy_baseline", memcpy_baseline);
        if (Crc32c::best() == Crc32c::Engine::sse42) {
            benchmark::RegisterBenchmark("verify_4k/crc32c/sse42", crc, Crc32c::Engine::sse42);
        }
        benchmark::RegisterBenchmark("verify_4k/crc32c/table", crc, Crc32c::Engine::table);
        benchmark::RegisterBenchmark("verify_4k/make_block", make_block);
        benchmark::RegisterBenchmark("verify_4k/check_block", check_block);
        benchmark::RegisterBenchmark("verify_record/lookup", lookup)->Arg(1)->Arg(32);
    });
}
