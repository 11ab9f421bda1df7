#include "tools/cli/temporary_run.hpp"

#include <stdlib.h>

#include <system_error>

#include "common/os/unique_fd.hpp"

namespace pvsim::tools::cli {

RunDir TemporaryRun::make(const std::string& what) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/pvsim-" + what + ".XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        os::throw_system_error("mkdtemp " + pattern);
    }
    return RunDir::open(pattern);
}

TemporaryRun::TemporaryRun(const std::string& what) : run_(make(what)) {}

TemporaryRun::~TemporaryRun() {
    if (!keep_) {
        std::error_code ignored;
        std::filesystem::remove_all(run_.path(), ignored);
    }
}

}  // namespace pvsim::tools::cli
