// Waiting, bounded, for what another thread or process does.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace pvsim::test {

// Waits for `done` to hold, checking every few milliseconds, for at most
// `limit`: for effects that happen asynchronously in another thread or
// process (a completion, a death noticed). Not a timing assertion: the limit
// only bounds a hang.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

}  // namespace pvsim::test
