#include "tools/cli/interruption.hpp"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <string>
#include <utility>

namespace pvsim::tools::cli {

Interruption::Interruption() : watcher_([this] { watch(); }) {}

Interruption::~Interruption() {
    // The watcher wakes on a signal directed at it: the same sigwaitinfo
    // that waits for the user's, so no second wake-up channel is needed.
    closing_.store(true);
    ::pthread_kill(watcher_.native_handle(), SIGTERM);
    watcher_.join();
}

void Interruption::watch() {
    for (;;) {
        const int signal = signals_.wait();
        if (closing_.load()) {
            return;
        }
        const std::lock_guard lock(mutex_);
        int expected = 0;
        if (!signal_.compare_exchange_strong(expected, signal)) {
            continue;  // a second Ctrl-C: the stop is under way already
        }
        arrived_.notify_all();
        for (const auto& [id, cancel] : cancels_) {
            cancel();
        }
    }
}

int Interruption::exit_status() const noexcept {
    const int signal = signal_.load();
    return signal == 0 ? 0 : 128 + signal;
}

const char* Interruption::signal_name() const noexcept {
    const int signal = signal_.load();
    return signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

void Interruption::throw_if_requested() const {
    if (requested()) {
        throw Interrupted(std::string("interrupted by ") + signal_name());
    }
}

bool Interruption::sleep_for(std::chrono::nanoseconds duration) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, duration, [this] { return requested(); });
}

std::shared_ptr<void> Interruption::on_stop(std::function<void()> cancel) {
    const std::lock_guard lock(mutex_);
    if (requested()) {
        cancel();
    }
    const std::uint64_t id = next_cancel_++;
    cancels_.emplace(id, std::move(cancel));
    return std::shared_ptr<void>(nullptr, [this, id](void*) {
        const std::lock_guard erase_lock(mutex_);
        cancels_.erase(id);
    });
}

}  // namespace pvsim::tools::cli
