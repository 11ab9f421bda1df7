// A vhost-user-blk server in the test process over a real image file and a
// real unix socket, with a pattern in the image to check reads against.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/vhost_user_blk/vhost_user_server.hpp"
#include "common/os/unique_fd.hpp"
#include "test_frontend.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::test {

inline std::uint8_t pattern_byte(std::uint64_t offset) {
    return static_cast<std::uint8_t>(offset * 7 + offset / 4096);
}

class ServerFixture : public ::testing::Test {
  protected:
    static constexpr std::uint64_t kImageSize = 4 << 20;

    void SetUp() override {
        image_ = dir_.path() / "disk.img";
        ASSERT_NO_FATAL_FAILURE(write_pattern_image(image_));
        socket_ = dir_.path() / "vhost-user-blk.sock";
    }

    // An image of kImageSize bytes holding pattern_byte(offset).
    static void write_pattern_image(const std::filesystem::path& path) {
        std::vector<std::uint8_t> bytes(kImageSize);
        for (std::uint64_t i = 0; i < kImageSize; ++i) {
            bytes[i] = pattern_byte(i);
        }
        os::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_TRUE(fd);
        ASSERT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), 0),
                  static_cast<ssize_t>(bytes.size()));
    }

    static std::unique_ptr<backend::vhost_user_blk::VhostUserBlkServer> make_server(
        const std::filesystem::path& socket, const std::filesystem::path& image,
        unsigned num_queues = 1, bool read_only = false, std::string name = "vhost-user-blk",
        backend::storage::EngineKind engine = backend::storage::EngineKind::automatic) {
        backend::vhost_user_blk::ServerOptions options;
        options.socket_path = socket;
        options.name = std::move(name);
        options.device.image = image;
        options.device.num_queues = num_queues;
        options.device.read_only = read_only;
        options.device.engine = engine;
        return std::make_unique<backend::vhost_user_blk::VhostUserBlkServer>(options);
    }

    void start(unsigned num_queues = 1, bool read_only = false,
               backend::storage::EngineKind engine = backend::storage::EngineKind::automatic) {
        server_ = make_server(socket_, image_, num_queues, read_only, "vhost-user-blk", engine);
    }

    std::unique_ptr<TestFrontend> connect() { return std::make_unique<TestFrontend>(socket_); }

    std::vector<std::uint8_t> image_bytes(std::uint64_t offset, std::size_t size) const {
        return image_bytes(image_, offset, size);
    }
    static std::vector<std::uint8_t> image_bytes(const std::filesystem::path& image,
                                                 std::uint64_t offset, std::size_t size) {
        std::vector<std::uint8_t> out(size);
        os::UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
        EXPECT_EQ(::pread(fd.get(), out.data(), size, static_cast<off_t>(offset)),
                  static_cast<ssize_t>(size));
        return out;
    }

    backend::vhost_user_blk::DeviceCounters counters() const { return server_->counters(); }

    TempDir dir_;
    std::filesystem::path image_;
    std::filesystem::path socket_;
    std::unique_ptr<backend::vhost_user_blk::VhostUserBlkServer> server_;
};

}  // namespace pvsim::test
