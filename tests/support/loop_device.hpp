// A real block device for tests: a loop device over an image file, attached
// with util-linux's `losetup --find --show IMAGE` and detached with
// `losetup -d` when the guard goes, so that a failing test leaves no device
// behind. Attaching needs root (the CI machine runs tests as root); when it
// cannot be done the constructor throws, naming why, so that the test fails
// rather than silently testing less.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::test {

class LoopDevice {
  public:
    explicit LoopDevice(const std::filesystem::path& image) {
        if (::geteuid() != 0) {
            throw std::runtime_error("attaching a loop device to " + image.string() +
                                     " needs root; these tests run as root");
        }
        const Run run = losetup({"--find", "--show", image.string()});
        std::string device = run.out;
        while (!device.empty() && (device.back() == '\n' || device.back() == ' ')) {
            device.pop_back();
        }
        if (!run.status.success() || device.empty()) {
            throw std::runtime_error("losetup --find --show " + image.string() + " " +
                                     run.status.describe() + ": " + run.err);
        }
        path_ = device;
    }

    ~LoopDevice() {
        try {
            const Run run = losetup({"-d", path_.string()});
            if (!run.status.success()) {
                std::cerr << "losetup -d " << path_ << " " << run.status.describe() << ": "
                          << run.err << '\n';
            }
        } catch (const std::exception& e) {
            std::cerr << "losetup -d " << path_ << ": " << e.what() << '\n';
        }
    }

    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;

    // /dev/loopN
    const std::filesystem::path& path() const noexcept { return path_; }

  private:
    struct Run {
        os::ExitStatus status;
        std::string out;
        std::string err;
    };

    // ChildProcess::spawn takes a path, not a name to look up in $PATH;
    // losetup lives in sbin, which a non-login $PATH may lack.
    static std::filesystem::path find_losetup() {
        std::vector<std::string> dirs;
        if (const char* path = std::getenv("PATH")) {
            std::string_view rest = path;
            while (!rest.empty()) {
                const auto colon = rest.find(':');
                dirs.emplace_back(rest.substr(0, colon));
                rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
            }
        }
        dirs.insert(dirs.end(), {"/usr/sbin", "/sbin", "/usr/bin", "/bin"});
        for (const auto& dir : dirs) {
            const std::filesystem::path candidate = std::filesystem::path(dir) / "losetup";
            if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
                return candidate;
            }
        }
        throw std::runtime_error(
            "losetup (util-linux) not found in $PATH, /usr/sbin or /sbin; the block-device "
            "tests need it");
    }

    static std::string read_all(const os::UniqueFd& fd) {
        std::string text;
        char buffer[512];
        for (;;) {
            const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return text;
            }
            text.append(buffer, static_cast<std::size_t>(n));
        }
    }

    static Run losetup(const std::vector<std::string>& args) {
        int out[2];
        int err[2];
        if (::pipe2(out, O_CLOEXEC) < 0) {
            os::throw_system_error("pipe2");
        }
        os::UniqueFd out_read(out[0]);
        os::UniqueFd out_write(out[1]);
        if (::pipe2(err, O_CLOEXEC) < 0) {
            os::throw_system_error("pipe2");
        }
        os::UniqueFd err_read(err[0]);
        os::UniqueFd err_write(err[1]);

        os::SpawnOptions options;
        options.fds = {{out_write.get(), 1}, {err_write.get(), 2}};
        auto child = os::ChildProcess::spawn(find_losetup(), args, options);
        out_write.reset();
        err_write.reset();
        // losetup writes a line or two: stderr fits in its pipe while stdout
        // is read to its end.
        Run run;
        run.out = read_all(out_read);
        run.err = read_all(err_read);
        run.status = child.wait();
        return run;
    }

    std::filesystem::path path_;
};

}  // namespace pvsim::test
