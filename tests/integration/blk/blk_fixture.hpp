// The split block driver end to end between real processes: the toolstack
// (this test, tools/toolstack/vbd), pvsim-backend's blkback in dom0, and a
// guest (pvsim_test_domain) running blkfront through the frontend library
// over its own xenstore ring (its blk-* verbs, tests/support/test_domain_blk.hpp).
// The daemons and the toolstack's side come from blkback's fixture.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/blkback_fixture.hpp"
#include "tests/support/test_domain_blk.hpp"

namespace pvsim::test {

inline constexpr std::uint32_t kXvda = 51712;  // vbd-interface.txt: xvda

class BlkFixture : public BlkbackFixture {
  protected:
    // libxl's detach, which must complete: the guest's blkfront closes on
    // the backend's Closing, blkback disconnects and goes Closed, the
    // directories go.
    void detach(const tools::toolstack::VbdPaths& paths) {
        try {
            tools::toolstack::detach_vbd(dom0_, paths);
        } catch (const std::exception& e) {
            FAIL() << "detach: " << e.what() << "\n" << backend_->log();
        }
    }

    // The bytes of `store` (an image file or a device) for `count` sectors
    // from `sector`, read directly.
    static std::vector<std::uint8_t> read_store(const std::filesystem::path& store,
                                                std::uint64_t sector, std::uint64_t count) {
        std::vector<std::uint8_t> bytes(count * 512);
        const int fd = ::open(store.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            throw std::runtime_error("open " + store.string());
        }
        const ssize_t got =
            ::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(sector * 512));
        ::close(fd);
        if (got != static_cast<ssize_t>(bytes.size())) {
            throw std::runtime_error("short read of " + store.string());
        }
        return bytes;
    }

    // The first sector of `count` from `sector` in `store` that does not
    // hold the pattern of `seed`, if any.
    static std::optional<std::uint64_t> first_mismatch(const std::filesystem::path& store,
                                                       std::uint64_t sector, std::uint64_t count,
                                                       std::uint64_t seed) {
        const std::vector<std::uint8_t> bytes = read_store(store, sector, count);
        for (std::uint64_t s = 0; s < count; ++s) {
            for (std::size_t b = 0; b < 512; ++b) {
                if (bytes[s * 512 + b] != blk_pattern_byte(seed, sector + s, b)) {
                    return sector + s;
                }
            }
        }
        return std::nullopt;
    }

    // The counters blkback logged for the vbd at its last disconnect
    // ("<backend path>: disconnected; counters {...}"), or null.
    nlohmann::json backend_counters(const tools::toolstack::VbdPaths& paths) const {
        const std::string log = backend_->log();
        const std::string marker = paths.backend + ": disconnected; counters ";
        const std::size_t at = log.rfind(marker);
        if (at == std::string::npos) {
            return nullptr;
        }
        const std::size_t begin = at + marker.size();
        return nlohmann::json::parse(log.substr(begin, log.find('\n', begin) - begin));
    }
};

}  // namespace pvsim::test
