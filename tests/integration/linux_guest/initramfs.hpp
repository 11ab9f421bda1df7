// A Linux initramfs made by the test itself (Documentation/driver-api/
// early-userspace/buffer-format.rst): a cpio archive in the "newc" format
// (magic 070701), gzip-compressed, which the kernel unpacks into its rootfs
// and whose /init it runs. Written here rather than with cpio(1) so that the
// console device node needs no mknod on the host, and every entry is owned
// by root whoever runs the test.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {

class NewcArchive {
  public:
    void directory(const std::string& name) { entry(name, S_IFDIR | 0755, {}, 0, 0); }
    void file(const std::string& name, std::string_view bytes, unsigned permissions = 0644) {
        entry(name, S_IFREG | permissions, bytes, 0, 0);
    }
    void char_device(const std::string& name, unsigned major, unsigned minor) {
        entry(name, S_IFCHR | 0600, {}, major, minor);
    }
    // The archive, ended by its TRAILER!!! entry.
    std::string finish() {
        entry("TRAILER!!!", 0, {}, 0, 0);
        return std::move(out_);
    }

  private:
    void entry(const std::string& name, unsigned mode, std::string_view data, unsigned rdev_major,
               unsigned rdev_minor) {
        const unsigned fields[13] = {next_inode_++,
                                     mode,
                                     0,
                                     0,
                                     S_ISDIR(mode) ? 2u : 1u,
                                     0,
                                     static_cast<unsigned>(data.size()),
                                     0,
                                     0,
                                     rdev_major,
                                     rdev_minor,
                                     static_cast<unsigned>(name.size() + 1),
                                     0};
        out_ += "070701";
        for (const unsigned field : fields) {
            char hex[9];
            std::snprintf(hex, sizeof(hex), "%08X", field);
            out_ += hex;
        }
        out_ += name;
        out_ += '\0';
        pad();
        out_ += data;
        pad();
    }
    void pad() { out_.append((4 - out_.size() % 4) % 4, '\0'); }

    std::string out_;
    unsigned next_inode_ = 1;
};

// Writes `archive` gzip-compressed to `path`, with `gzip` (a path).
inline void write_gzipped(const std::string& archive, const std::filesystem::path& path,
                          const std::filesystem::path& gzip) {
    const std::filesystem::path plain = path.string() + ".cpio";
    std::ofstream(plain, std::ios::binary)
        .write(archive.data(), static_cast<std::streamsize>(archive.size()));
    os::UniqueFd in(::open(plain.c_str(), O_RDONLY | O_CLOEXEC));
    os::UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!in || !out) {
        os::throw_system_error("open " + plain.string() + " or " + path.string());
    }
    os::SpawnOptions options;
    options.fds = {{in.get(), 0}, {out.get(), 1}};
    os::ChildProcess process = os::ChildProcess::spawn(gzip, {"-1", "-n", "-c"}, options);
    std::optional<os::ExitStatus> status;
    if (!eventually([&] { return (status = process.try_wait()).has_value(); },
                    std::chrono::seconds(30)) ||
        !status->success()) {
        throw std::runtime_error("gzip of the initramfs failed");
    }
    std::filesystem::remove(plain);
}

}  // namespace pvsim::test
