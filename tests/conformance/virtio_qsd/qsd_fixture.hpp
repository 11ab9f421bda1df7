// The virtio-blk driver against a device no one here wrote:
// qemu-storage-daemon's vhost-user-blk export (DESIGN.md §6, §9), started as
// a real process on a raw image in a private directory, and a guest memory
// (a DomainMemory over its own shared-memory object) for the driver to
// share with it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/os/child_process.hpp"
#include "common/os/shared_memory.hpp"
#include "common/os/unique_fd.hpp"
#include "frontend/block_device.hpp"
#include "frontend/virtio_blk/virtio_blk.hpp"
#include "hypervisor/client/domain_memory.hpp"
#include "tests/support/block_request.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::test {

inline constexpr const char* kQsdPath = "/usr/bin/qemu-storage-daemon";
inline constexpr std::size_t kPage = 4096;

struct QsdOptions {
    std::size_t image_bytes = 64 << 20;
    unsigned num_queues = 0;  // 0: the export's default (1)
    bool writable = true;
    // discard=unmap on both nodes: QEMU's block layer ignores discards
    // unless a node is opened with it (bdrv_co_pdiscard, BDRV_O_UNMAP).
    bool unmap = false;
};

// One qemu-storage-daemon with a vhost-user-blk export of a raw image.
class QsdProcess {
  public:
    QsdProcess(const std::filesystem::path& dir, const QsdOptions& options)
        : image_(dir / "disk.img"), socket_(dir / "vhost-user-blk.sock"), log_(dir / "qsd.log") {
        {
            os::UniqueFd fd(::open(image_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
            if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(options.image_bytes)) != 0) {
                throw std::runtime_error("creating the image " + image_.string());
            }
        }
        const std::string discard = options.unmap ? ",discard=unmap" : "";
        std::string export_spec =
            "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
            "addr.path=" +
            socket_.string() + ",writable=" + (options.writable ? "on" : "off");
        if (options.num_queues != 0) {
            export_spec += ",num-queues=" + std::to_string(options.num_queues);
        }
        const std::vector<std::string> args = {
            "--blockdev", "driver=file,node-name=file0,filename=" + image_.string() + discard,
            "--blockdev", "driver=raw,node-name=disk0,file=file0" + discard,
            "--export",   export_spec};
        os::UniqueFd log(::open(log_.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
        os::SpawnOptions spawn;
        spawn.fds.push_back({log.get(), 1});
        spawn.fds.push_back({log.get(), 2});
        process_.emplace(os::ChildProcess::spawn(kQsdPath, args, spawn));
        // The export listens once the socket exists.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!std::filesystem::exists(socket_)) {
            if (auto status = process_->try_wait()) {
                throw std::runtime_error("qemu-storage-daemon " + status->describe() + ": " +
                                         log_text());
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("qemu-storage-daemon never created its socket: " +
                                         log_text());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    const std::filesystem::path& image() const { return image_; }
    std::string socket() const { return socket_.string(); }
    void kill() {
        process_->kill(SIGKILL);
        process_->wait();
    }
    std::string log_text() const {
        std::ifstream in(log_);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    // Bytes of the image file, as the daemon left them (it opens the file
    // without O_DIRECT, so the page cache is what both of us see).
    std::vector<std::byte> read_image(std::uint64_t offset, std::size_t length) const {
        std::vector<std::byte> bytes(length);
        os::UniqueFd fd(::open(image_.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd || ::pread(fd.get(), bytes.data(), length, static_cast<off_t>(offset)) !=
                       static_cast<ssize_t>(length)) {
            throw std::runtime_error("reading the image");
        }
        return bytes;
    }
    void write_image(std::uint64_t offset, std::span<const std::byte> bytes) const {
        os::UniqueFd fd(::open(image_.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)) !=
                       static_cast<ssize_t>(bytes.size())) {
            throw std::runtime_error("writing the image");
        }
    }

  private:
    std::filesystem::path image_;
    std::filesystem::path socket_;
    std::filesystem::path log_;
    std::optional<os::ChildProcess> process_;
};

// The guest's memory: a DomainMemory over a private shared-memory object.
class GuestMemory {
  public:
    explicit GuestMemory(std::size_t pages)
        : memory_(os::SharedMemory::create(unique_name(), pages * kPage), 1) {}
    hypervisor::DomainMemory& operator*() { return memory_; }
    hypervisor::DomainMemory* operator->() { return &memory_; }

  private:
    static std::string unique_name() {
        static std::atomic<unsigned> counter{0};
        return os::shm_name("qsdtest" + std::to_string(::getpid()),
                            "memory" + std::to_string(counter++));
    }
    hypervisor::DomainMemory memory_;
};

// A buffer of whole guest pages, freed at the end.
class PageBuffer {
  public:
    PageBuffer(hypervisor::DomainMemory& memory, std::size_t bytes) : memory_(memory) {
        buffer_.length = bytes;
        for (std::size_t i = 0; i < (bytes + kPage - 1) / kPage; ++i) {
            buffer_.pages.push_back(memory.allocate_page());
        }
    }
    ~PageBuffer() {
        for (hypervisor::Gfn gfn : buffer_.pages) {
            memory_.free_page(gfn);
        }
    }
    PageBuffer(const PageBuffer&) = delete;
    PageBuffer& operator=(const PageBuffer&) = delete;

    const frontend::GuestBuffer& buffer() const { return buffer_; }
    std::vector<std::byte> bytes() const {
        std::vector<std::byte> out(buffer_.length);
        for (std::size_t i = 0; i < buffer_.length; i += kPage) {
            const std::size_t n = std::min(kPage, buffer_.length - i);
            std::memcpy(out.data() + i, memory_.page(buffer_.pages[i / kPage]).data(), n);
        }
        return out;
    }
    void fill(std::span<const std::byte> data) {
        for (std::size_t i = 0; i < data.size(); i += kPage) {
            const std::size_t n = std::min(kPage, data.size() - i);
            std::memcpy(memory_.page(buffer_.pages[i / kPage]).data(), data.data() + i, n);
        }
    }

  private:
    hypervisor::DomainMemory& memory_;
    frontend::GuestBuffer buffer_;
};

// Deterministic bytes that differ by offset and seed.
inline std::vector<std::byte> pattern(std::size_t bytes, std::uint64_t seed) {
    std::vector<std::byte> out(bytes);
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (std::size_t i = 0; i < bytes; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<std::byte>(x);
    }
    return out;
}

class QsdTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(kQsdPath))
            << kQsdPath
            << " is missing: install Debian's qemu-system-common (`make test` installs it); "
               "the virtio driver's conformance tests need the real device";
    }

    void start(const QsdOptions& options = {}) { qsd_.emplace(dir_.path(), options); }

    std::unique_ptr<frontend::virtio_blk::VirtioBlk> open(
        frontend::virtio_blk::VirtioBlkOptions options = {}) {
        return frontend::virtio_blk::open_virtio_blk(*memory_, qsd_->socket(), options);
    }

    TempDir dir_;
    GuestMemory memory_{4096};  // 16 MiB
    std::optional<QsdProcess> qsd_;
};

}  // namespace pvsim::test
