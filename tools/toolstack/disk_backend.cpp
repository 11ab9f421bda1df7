#include "tools/toolstack/disk_backend.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pvsim::tools::toolstack {

std::string_view to_string(DiskBackend backend) noexcept {
    return backend == DiskBackend::qdisk ? "qdisk" : "phy";
}

std::optional<DiskBackend> parse_disk_backend(std::string_view text) noexcept {
    if (text == "phy") {
        return DiskBackend::phy;
    }
    if (text == "qdisk") {
        return DiskBackend::qdisk;
    }
    return std::nullopt;
}

std::string_view backend_kind(DiskBackend backend) noexcept {
    return backend == DiskBackend::qdisk ? "qdisk" : "vbd";
}

DiskBackend select_disk_backend(std::optional<DiskBackend> asked, const std::string& target) {
    if (asked == DiskBackend::qdisk) {
        return *asked;
    }
    struct stat st {};
    if (::stat(target.c_str(), &st) != 0) {
        throw std::invalid_argument("failed to stat " + target + ": " + std::strerror(errno));
    }
    if (asked) {
        return *asked;
    }
    return S_ISBLK(st.st_mode) ? DiskBackend::phy : DiskBackend::qdisk;
}

}  // namespace pvsim::tools::toolstack
