// An io_context with threads of its own (io_threads.hpp).
#include "common/os/io_threads.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::os {

IoThreads::IoThreads(std::string name, std::size_t threads)
    : name_(std::move(name)), work_(io_.get_executor()) {
    for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

IoThreads::~IoThreads() {
    work_.reset();
    for (std::thread& thread : threads_) {
        thread.join();
    }
}

void IoThreads::run() {
    // A handler that throws must not take the thread (and the process)
    // with it.
    for (;;) {
        try {
            io_.run();
            return;
        } catch (const std::exception& e) {
            spdlog::error("{}: {}", name_, e.what());
        }
    }
}

}  // namespace pvsim::os
