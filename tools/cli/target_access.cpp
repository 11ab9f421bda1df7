#include "tools/cli/target_access.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tools/cli/session.hpp"

namespace pvsim::tools::cli {

std::string checked_target(std::string_view label, const std::string& target, bool read_only,
                           std::string_view writable_hint) {
    const std::string named = std::string(label) + " " + target + ": ";
    const std::filesystem::path path = std::filesystem::absolute(target);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw CommandError(named + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        throw CommandError(named + "not a regular file or block device");
    }
    if (::access(path.c_str(), read_only ? R_OK : R_OK | W_OK) != 0) {
        throw CommandError(named + std::strerror(errno) +
                           (read_only ? std::string() : std::string(writable_hint)));
    }
    return path.string();
}

}  // namespace pvsim::tools::cli
