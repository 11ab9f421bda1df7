// Threads for blocking jobs, joined at shutdown (worker_threads.hpp).
#include "frontend/guest/worker_threads.hpp"

#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::frontend::guest {

WorkerThreads::~WorkerThreads() {
    join_all();
}

void WorkerThreads::spawn(std::function<void()> job) {
    std::lock_guard lock(mutex_);
    for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->done->load(std::memory_order_acquire)) {
            it->thread.join();
            it = workers_.erase(it);
        } else {
            ++it;
        }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([job = std::move(job), done] {
        try {
            job();
        } catch (const std::exception& e) {
            spdlog::error("worker thread: {}", e.what());
        }
        done->store(true, std::memory_order_release);
    });
    workers_.push_back(Worker{std::move(thread), std::move(done)});
}

void WorkerThreads::join_all() {
    for (;;) {
        std::list<Worker> workers;
        {
            std::lock_guard lock(mutex_);
            workers.swap(workers_);
        }
        if (workers.empty()) {
            return;
        }
        for (Worker& worker : workers) {
            worker.thread.join();
        }
    }
}

}  // namespace pvsim::frontend::guest
