// The threads pvsim-guest runs blocking work on (opening a device, a
// workload run, a close), so that neither the xenstore watch thread nor the
// agent's event loop ever blocks: each job gets a thread of its own, and
// shutdown joins them all. A std::thread per job rather than a pool,
// because the jobs block for long (a run, a handshake) and there are few.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace pvsim::frontend::guest {

class WorkerThreads {
  public:
    WorkerThreads() = default;
    ~WorkerThreads();  // join_all()
    WorkerThreads(const WorkerThreads&) = delete;
    WorkerThreads& operator=(const WorkerThreads&) = delete;

    // Runs `job` on a new thread (an exception escaping it is logged).
    // Threads that have finished are joined here, so the set stays small.
    void spawn(std::function<void()> job);

    // Joins every thread, including ones spawned meanwhile. Not from one of
    // the threads.
    void join_all();

  private:
    struct Worker {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };

    std::mutex mutex_;
    std::list<Worker> workers_;
};

}  // namespace pvsim::frontend::guest
