#include "tools/toolstack/image.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "common/os/unique_fd.hpp"

namespace pvsim::tools::toolstack {

void make_image(const std::filesystem::path& path, std::uint64_t bytes) {
    os::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
        os::throw_system_error("create image " + path.string());
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
        os::throw_system_error("size image " + path.string());
    }
}

}  // namespace pvsim::tools::toolstack
