// What the storage tests share: image files with known contents, checked
// with plain pread(2); a run of an engine until given completions arrive,
// sleeping in poll(2) on its completion_fd() as a data-plane loop does; and
// the engine kinds every engine test runs with.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend/storage/io_engine.hpp"
#include "backend/storage/make_engine.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::backend::storage::test {

// Bytes that differ at every offset and from one seed to another.
inline std::vector<std::byte> pattern(std::size_t size, std::uint32_t seed) {
    std::vector<std::byte> bytes(size);
    std::uint32_t x = seed * 2654435761u + 1;
    for (std::size_t i = 0; i < size; ++i) {
        x = x * 1664525u + 1013904223u;
        bytes[i] = static_cast<std::byte>(x >> 24);
    }
    return bytes;
}

inline void write_file(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
    os::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) {
        os::throw_system_error("open " + path.string());
    }
    if (::pwrite(fd.get(), bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
        os::throw_system_error("pwrite " + path.string());
    }
}

// What pread(2) gives at `offset` (up to `size` bytes).
inline std::vector<std::byte> read_file(const std::filesystem::path& path, std::uint64_t offset,
                                        std::size_t size) {
    os::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        os::throw_system_error("open " + path.string());
    }
    std::vector<std::byte> bytes(size);
    const ssize_t n = ::pread(fd.get(), bytes.data(), size, static_cast<off_t>(offset));
    if (n < 0) {
        os::throw_system_error("pread " + path.string());
    }
    bytes.resize(static_cast<std::size_t>(n));
    return bytes;
}

inline std::vector<std::byte> zeros(std::size_t size) {
    return std::vector<std::byte>(size);
}

// Completions by tag, gathered until `count` have arrived, sleeping in
// poll(2) on completion_fd() in between. Fails the test (and returns what
// came) if `count` are not there within `timeout`.
inline std::map<std::uint64_t, std::int64_t> wait_for(
    IoEngine& engine, std::size_t count,
    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::map<std::uint64_t, std::int64_t> results;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        engine.reap([&](const IoCompletion& completion) {
            EXPECT_TRUE(results.emplace(completion.tag, completion.result).second)
                << "tag " << completion.tag << " completed twice";
        });
        if (results.size() >= count) {
            return results;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pfd{.fd = engine.completion_fd(), .events = POLLIN, .revents = 0};
        if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) {
            ADD_FAILURE() << "only " << results.size() << " of " << count << " completions arrived";
            return results;
        }
    }
}

// The one completion of a single I/O.
inline std::int64_t wait_one(IoEngine& engine) {
    const auto results = wait_for(engine, 1);
    return results.empty() ? INT64_MIN : results.begin()->second;
}

inline iovec io(void* base, std::size_t length) {
    return iovec{base, length};
}

// Every engine test runs once per kind.
inline std::string kind_name(const testing::TestParamInfo<EngineKind>& info) {
    return std::string(to_string(info.param));
}

inline std::unique_ptr<IoEngine> engine_for(IoTarget target, EngineKind kind,
                                            unsigned queue_depth = 64) {
    EngineOptions options;
    options.kind = kind;
    options.queue_depth = queue_depth;
    return make_engine(target, options);
}

}  // namespace pvsim::backend::storage::test
