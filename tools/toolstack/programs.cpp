#include "tools/toolstack/programs.hpp"

#include <unistd.h>

#include <stdexcept>
#include <string>

namespace pvsim::tools::toolstack {
namespace {

std::filesystem::path program(const std::filesystem::path& directory, const char* name) {
    std::filesystem::path path = directory / name;
    if (::access(path.c_str(), X_OK) != 0) {
        throw std::runtime_error(std::string(name) + " not found in " + directory.string() +
                                 " (set PVSIM_BIN_DIR to the directory holding the pvsim "
                                 "programs)");
    }
    return path;
}

}  // namespace

Programs Programs::in(const std::filesystem::path& directory) {
    return {program(directory, "pvsim-hypervisor"), program(directory, "pvsim-xenstored"),
            program(directory, "pvsim-backend"), program(directory, "pvsim-guest"),
            program(directory, "pvsim-monitor")};
}

Programs Programs::locate(const os::Environment& env) {
    if (auto dir = env.get_non_empty("PVSIM_BIN_DIR")) {
        return in(*dir);
    }
    return in(std::filesystem::read_symlink("/proc/self/exe").parent_path());
}

}  // namespace pvsim::tools::toolstack
