#include "tools/cli/fio_baseline.hpp"

#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "common/units.hpp"
#include "tools/cli/child_program.hpp"

namespace pvsim::tools::cli {
namespace fio_baseline {

// read + write (+ trim) IOPS of fio's one job (--group_reporting).
double total_iops(const nlohmann::json& result) {
    const auto& jobs = result.value("jobs", nlohmann::json::array());
    double iops = 0;
    for (const char* direction : {"read", "write", "trim"}) {
        iops += jobs.empty()
                    ? 0.0
                    : jobs[0].value(direction, nlohmann::json::object()).value("iops", 0.0);
    }
    return iops;
}

FioRun run_one(const std::filesystem::path& program, const IoOptions& job, const std::string& image,
               std::uint64_t job_bytes, const std::string& engine,
               const std::filesystem::path& scratch, const Interruption* stop,
               const std::optional<os::CpuList>& cpus) {
    FioRun run{engine, {}, 0, {}};
    const std::filesystem::path output = scratch / ("fio-" + engine + ".json");
    const std::filesystem::path log = scratch / ("fio-" + engine + ".log");
    std::error_code ignored;
    std::filesystem::remove(output, ignored);
    os::UniqueFd out(::open(log.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) {
        run.error = "cannot create " + log.string();
        return run;
    }
    os::SpawnOptions spawn;
    spawn.fds = {{out.get(), 1}, {out.get(), 2}};
    spawn.cpus = cpus;
    pid_t pid = -1;
    try {
        pid = os::ChildProcess::spawn(program, fio_arguments(job, image, job_bytes, engine, output),
                                      spawn)
                  .release();
    } catch (const std::exception& e) {
        run.error = e.what();
        return run;
    }
    // The CLI reaps its children itself (SIGCHLD ignored): fio's verdict is
    // its JSON output, written whole when it ends.
    bool interrupted = false;
    while (!child_ended(pid)) {
        if (!interrupted && stop != nullptr && stop->requested()) {
            interrupted = true;
            ::kill(pid, SIGINT);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // fio writes its own messages to --output too, before the JSON (on
    // SIGINT: "fio: terminating on signal 2"): the document is from its
    // first brace.
    std::ifstream in(output);
    const std::string text(std::istreambuf_iterator<char>(in), {});
    try {
        const std::size_t start = text.find('{');
        run.result = nlohmann::json::parse(start == std::string::npos ? "" : text.substr(start));
    } catch (const nlohmann::json::exception&) {
        run.error = "fio --ioengine=" + engine + " gave no result: " + log_tail(log, 600);
        return run;
    }
    const auto& jobs = run.result.value("jobs", nlohmann::json::array());
    if (jobs.empty() || jobs[0].value("error", 0) != 0) {
        run.error = "fio --ioengine=" + engine + " failed: " + log_tail(log, 600);
        return run;
    }
    run.iops = total_iops(run.result);
    return run;
}

std::string bytes(const std::string& size) {
    return std::to_string(parse_size(size));
}

}  // namespace fio_baseline

std::vector<std::string> fio_arguments(const IoOptions& job, const std::string& image,
                                       std::uint64_t job_bytes, const std::string& engine,
                                       const std::filesystem::path& output) {
    using fio_baseline::bytes;
    std::vector<std::string> args = {
        "--name=" + job.name, "--filename=" + image, "--ioengine=" + engine, "--rw=" + job.rw,
        // Sizes and times in bytes and ms: pvsim's
        // units, whatever fio's suffixes mean.
        "--bs=" + bytes(job.bs), "--iodepth=" + std::to_string(job.iodepth),
        "--offset=" + bytes(job.offset), "--size=" + std::to_string(job_bytes),
        "--numjobs=" + std::to_string(job.numjobs), "--rwmixread=" + std::to_string(job.rwmixread),
        // The page cache stays as the bench left it, and
        // I/O goes through it, as the backends' does.
        "--invalidate=0", "--direct=0", "--group_reporting", "--output-format=json",
        "--output=" + output.string()};
    if (job.numjobs > 1) {
        // pvsim's jobs each take their own slice, one after another.
        args.push_back("--offset_increment=" + std::to_string(job_bytes));
    }
    if (job.io_size && !job.time_based) {
        args.push_back("--io_size=" + bytes(*job.io_size));
    }
    const auto runtime = std::chrono::duration_cast<std::chrono::milliseconds>(
        job.runtime ? parse_duration(*job.runtime) : std::chrono::nanoseconds::zero());
    if (runtime.count() > 0) {
        // Time based as pvsim's job is: with no --io_size, or when asked.
        args.push_back("--runtime=" + std::to_string(runtime.count()) + "ms");
        if (!job.io_size || job.time_based) {
            args.push_back("--time_based");
        }
    }
    if (job.sync != "0" && job.sync != "none") {
        args.push_back("--sync=" + job.sync);
    }
    return args;
}

std::vector<FioRun> run_fio_engines(const std::filesystem::path& program, const IoOptions& job,
                                    const std::string& image, std::uint64_t job_bytes,
                                    const std::filesystem::path& scratch, const Interruption* stop,
                                    const std::optional<os::CpuList>& cpus) {
    std::vector<FioRun> runs;
    for (const std::string& engine : kFioEngines) {
        if (stop != nullptr && stop->requested()) {
            break;
        }
        runs.push_back(
            fio_baseline::run_one(program, job, image, job_bytes, engine, scratch, stop, cpus));
    }
    return runs;
}

const FioRun* best_fio_run(const std::vector<FioRun>& runs) {
    const FioRun* best = nullptr;
    for (const FioRun& run : runs) {
        if (run.error.empty() && (best == nullptr || run.iops > best->iops)) {
            best = &run;
        }
    }
    return best;
}

}  // namespace pvsim::tools::cli
