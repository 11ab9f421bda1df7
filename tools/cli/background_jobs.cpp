#include "tools/cli/background_jobs.hpp"

namespace pvsim::tools::cli {

BackgroundJobs::~BackgroundJobs() {
    for (auto& job : jobs_) {
        if (job->thread.joinable()) {
            job->thread.join();
        }
    }
}

void BackgroundJobs::start(Command command, std::unique_ptr<Session> session) {
    auto job = std::make_unique<Job>();
    job->text = command.text;
    Job* raw = job.get();
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    raw->thread = std::thread([raw, command = std::move(command), session = std::move(session)] {
        try {
            command.run(*session);
        } catch (const std::exception& e) {
            raw->error = e.what();
        }
    });
}

void BackgroundJobs::wait() {
    std::vector<std::unique_ptr<Job>> jobs;
    {
        std::lock_guard lock(mutex_);
        jobs.swap(jobs_);
    }
    std::string failures;
    for (auto& job : jobs) {
        job->thread.join();
        if (!job->error.empty()) {
            failures +=
                (failures.empty() ? "" : "; ") + ("background " + job->text + ": " + job->error);
        }
    }
    if (!failures.empty()) {
        throw CommandError(failures);
    }
}

}  // namespace pvsim::tools::cli
