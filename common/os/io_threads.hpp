// An io_context run by threads of its own for as long as the object lives:
// a process's control-plane executor (DESIGN.md §2), on which each device
// keeps a strand (the guest's blkfronts: xenbus_frontend.hpp), and what a
// test gives a component that takes an executor. A handler that throws is
// logged with the name and the thread goes on serving. Destruction lets
// the handlers already queued run, then joins the threads: whatever posts
// to it must be gone first.
#pragma once

#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace pvsim::os {

class IoThreads {
  public:
    // `name` for logs; `threads` >= 1.
    explicit IoThreads(std::string name, std::size_t threads = 1);
    ~IoThreads();
    IoThreads(const IoThreads&) = delete;
    IoThreads& operator=(const IoThreads&) = delete;

    boost::asio::any_io_executor executor() { return io_.get_executor(); }

  private:
    void run();

    const std::string name_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

}  // namespace pvsim::os
