// pvsim-backend running the device for real: the toolstack's keys under
// backend/vhost-user-blk start a server (hotplug-status, sectors,
// sector-size written), a front-end is served over its socket, a device
// that cannot start says why, and removing the directory stops it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "test_frontend.hpp"
#include "tests/support/backend_process.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/xenstored_process.hpp"
#include "xenstore/client/client.hpp"

namespace {

using namespace pvsim::test;
using pvsim::virtio::BlkReqType;
using pvsim::virtio::BlkStatus;

constexpr std::uint64_t kImageSize = 2 << 20;

class VhostUserBlkBackend : public ::testing::Test {
  protected:
    std::filesystem::path make_image() {
        const auto path = hv_.temp_path() / "virtio.img";
        std::vector<std::uint8_t> bytes(kImageSize);
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::uint8_t>(i / 512);
        }
        pvsim::os::UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
        EXPECT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), 0),
                  static_cast<ssize_t>(bytes.size()));
        return path;
    }
    // The toolstack's keys, in one transaction.
    void write_device(const std::string& dir, const std::string& params,
                      const std::filesystem::path& socket, const std::string& queues) {
        client_.transact([&](pvsim::xenstore::client::Transaction& t) {
            t.write(dir + "/params", params);
            t.write(dir + "/mode", "w");
            t.write(dir + "/socket", socket.string());
            t.write(dir + "/num-queues", queues);
            t.write(dir + "/poll-us", "0");
        });
    }
    std::string read(const std::string& path) { return client_.try_read(path).value_or(""); }
    bool reads(const std::string& path, const std::string& value) {
        return eventually([&] { return read(path) == value; });
    }

    HypervisorProcess hv_;
    XenstoredProcess xenstored_{hv_};
    BackendProcess backend_{hv_};
    pvsim::xenstore::client::Client client_ =
        pvsim::xenstore::client::Client::connect(xenstored_.socket_path());
};

TEST_F(VhostUserBlkBackend, ServesTheDeviceTheToolstackWrites) {
    const auto image = make_image();
    const auto socket = hv_.temp_path() / "vhost-user-blk.1.0.sock";
    const std::string dir = "/local/domain/0/backend/vhost-user-blk/1/0";
    write_device(dir, image.string(), socket, "2");
    ASSERT_TRUE(reads(dir + "/hotplug-status", "connected")) << backend_.log();
    EXPECT_EQ(read(dir + "/sectors"), std::to_string(kImageSize / 512));
    EXPECT_EQ(read(dir + "/sector-size"), "512");

    {
        TestFrontend fe(socket);
        fe.negotiate(~std::uint64_t{0});
        fe.start_queue(0);
        fe.start_queue(1);
        GuestMemory& mem = fe.memory();
        const BlkBuffers write = make_blk_request(mem, BlkReqType::out, 10, 512);
        std::memset(mem.at(write.data), 0x3c, 512);
        ASSERT_EQ(fe.run(1, write, false), static_cast<std::uint8_t>(BlkStatus::ok));
        const BlkBuffers read_back = make_blk_request(mem, BlkReqType::in, 9, 1024);
        ASSERT_EQ(fe.run(0, read_back, true), static_cast<std::uint8_t>(BlkStatus::ok));
        EXPECT_EQ(static_cast<std::uint8_t>(*mem.at(read_back.data)), 9);
        EXPECT_EQ(static_cast<std::uint8_t>(*mem.at(read_back.data + 512)), 0x3c);
    }
    std::uint8_t on_disk = 0;
    pvsim::os::UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(::pread(fd.get(), &on_disk, 1, 10 * 512), 1);
    EXPECT_EQ(on_disk, 0x3c);

    // A device that cannot start: hotplug-status error, and why.
    const std::string bad = "/local/domain/0/backend/vhost-user-blk/1/1";
    write_device(bad, (hv_.temp_path() / "missing.img").string(), hv_.temp_path() / "bad.sock",
                 "1");
    ASSERT_TRUE(reads(bad + "/hotplug-status", "error")) << backend_.log();
    EXPECT_NE(read(bad + "/error").find("missing.img"), std::string::npos);
    // Bad values are named.
    const std::string bad_queues = "/local/domain/0/backend/vhost-user-blk/1/2";
    write_device(bad_queues, image.string(), hv_.temp_path() / "q.sock", "99");
    ASSERT_TRUE(reads(bad_queues + "/hotplug-status", "error")) << backend_.log();
    EXPECT_NE(read(bad_queues + "/error").find("num-queues"), std::string::npos);

    // Removing the directory stops the device and removes its socket.
    client_.rm(dir);
    EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(socket); })) << backend_.log();
    EXPECT_TRUE(backend_.alive());
}

}  // namespace
