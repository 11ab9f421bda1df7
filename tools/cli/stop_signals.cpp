#include "tools/cli/stop_signals.hpp"

#include <time.h>

#include <cerrno>
#include <system_error>

namespace pvsim::tools::cli {

StopSignals::StopSignals() {
    sigemptyset(&stop_set_);
    sigaddset(&stop_set_, SIGINT);
    sigaddset(&stop_set_, SIGTERM);
    if (const int error = ::pthread_sigmask(SIG_BLOCK, &stop_set_, &previous_); error != 0) {
        throw std::system_error(error, std::system_category(), "pthread_sigmask");
    }
}

StopSignals::~StopSignals() {
    // A second Ctrl-C during the stop asked for what is done by now: it must
    // not kill the process once unblocked.
    const timespec now{};
    while (::sigtimedwait(&stop_set_, nullptr, &now) > 0) {
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int StopSignals::wait() const {
    for (;;) {
        const int signal = ::sigwaitinfo(&stop_set_, nullptr);
        if (signal > 0) {
            return signal;
        }
        if (errno != EINTR) {
            throw std::system_error(errno, std::system_category(), "sigwaitinfo");
        }
    }
}

}  // namespace pvsim::tools::cli
