#include "common/os/cpu_contention.hpp"

#include <unistd.h>

#include <array>
#include <charconv>

namespace pvsim::os {

std::optional<unsigned> runnable_threads(std::string_view loadavg) {
    // Three load averages, then "running/total".
    std::size_t at = 0;
    for (int field = 0; field < 3; ++field) {
        at = loadavg.find(' ', at);
        if (at == std::string_view::npos) {
            return std::nullopt;
        }
        ++at;
    }
    const std::size_t slash = loadavg.find('/', at);
    if (slash == std::string_view::npos || slash == at) {
        return std::nullopt;
    }
    unsigned running = 0;
    const char* first = loadavg.data() + at;
    const char* last = loadavg.data() + slash;
    const auto [end, error] = std::from_chars(first, last, running);
    if (error != std::errc{} || end != last) {
        return std::nullopt;
    }
    return running;
}

CpuContention::CpuContention(Options options) {
    if (!options.enabled) {
        return;
    }
    fd_ = UniqueFd(::open(options.source.c_str(), O_RDONLY | O_CLOEXEC));
    const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    cpus_ = options.cpus != 0 ? options.cpus : static_cast<unsigned>(online > 0 ? online : 1);
}

bool CpuContention::contended(Clock::time_point now) {
    if (!fd_) {
        return false;
    }
    if (now >= next_read_) {
        refresh();
        next_read_ = now + kRefresh;
    }
    return contended_;
}

void CpuContention::refresh() {
    std::array<char, 128> text{};
    const ssize_t n = ::pread(fd_.get(), text.data(), text.size(), 0);
    if (n <= 0) {
        contended_ = false;
        return;
    }
    const auto running =
        runnable_threads(std::string_view(text.data(), static_cast<std::size_t>(n)));
    contended_ = running && *running > cpus_;
}

}  // namespace pvsim::os
