// Test helpers: a private temporary directory per test (tests run in
// parallel, each in its own process, so nothing may be shared by name), and
// a count of this process's open fds to prove that nothing leaks.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace pvsim::test {

class TempDir {
  public:
    // In /tmp, or in `parent` for a test that needs a given file system
    // (/dev/shm for tmpfs, /var/tmp for a disk's).
    explicit TempDir(const std::filesystem::path& parent = "/tmp") {
        std::string pattern = (parent / "pvsim-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::system_error(errno, std::system_category(), "mkdtemp");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// Open fds of process `pid` (this process by default), not counting the one
// used to list them when it is this process.
inline int count_open_fds(pid_t pid = 0) {
    int count = 0;
    const std::string path =
        pid == 0 ? std::string("/proc/self/fd") : "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        throw std::system_error(errno, std::system_category(), "opendir " + path);
    }
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') {
            ++count;
        }
    }
    ::closedir(dir);
    return pid == 0 ? count - 1 : count;  // the listing's own fd
}

}  // namespace pvsim::test
