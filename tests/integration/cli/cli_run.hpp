// Driving the real `pvsim` program as a user would, for the CLI's tests:
// every command runs as its own process with --run-dir naming the test's
// own run directory, its stdout and stderr captured; and an independent
// count of what a run has on the machine (its processes, found by their
// environment, and its shared-memory objects, found by the run's tag).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "tests/support/daemon_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::test {

struct CliResult {
    int code = -1;  // exit status (-1: killed by a signal)
    std::string out;
    std::string err;

    nlohmann::json json() const { return nlohmann::json::parse(out); }
};

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// This process's environment with `entry` ("NAME=value") in place of any
// NAME= it had, for SpawnOptions::environment and run_cli.
inline std::vector<std::string> environment_with(const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('=') + 1);
    std::vector<std::string> environment = {entry};
    for (char** it = environ; *it != nullptr; ++it) {
        if (!std::string_view(*it).starts_with(name)) {
            environment.emplace_back(*it);
        }
    }
    return environment;
}

// Runs PVSIM_CLI with `args` (no --run-dir added), waiting at most `limit`,
// in `environment` ("NAME=value" strings) when given, else this process's.
inline CliResult run_cli(const std::filesystem::path& scratch, const std::vector<std::string>& args,
                         std::chrono::seconds limit = std::chrono::seconds(100),
                         std::optional<std::vector<std::string>> environment = std::nullopt) {
    const auto out_path = scratch / "cli.out";
    const auto err_path = scratch / "cli.err";
    os::UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    os::UniqueFd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    os::SpawnOptions options;
    options.fds = {{out.get(), 1}, {err.get(), 2}};
    options.environment = std::move(environment);
    os::ChildProcess process = os::ChildProcess::spawn(PVSIM_CLI, args, options);
    std::optional<os::ExitStatus> status;
    if (!eventually([&] { return (status = process.try_wait()).has_value(); }, limit)) {
        throw std::runtime_error("pvsim did not exit within the limit");
    }
    return {status->exited() ? status->code : -1, read_file(out_path), read_file(err_path)};
}

// What of a run is alive on the machine, counted without pvsim's own code.
struct RunCount {
    std::vector<std::string> processes;  // "pvsim-guest 1234"
    std::vector<std::string> shared_memory;
};

inline RunCount count_run(const std::filesystem::path& run_dir, const std::string& shm_tag) {
    RunCount count;
    const std::string marker = "PVSIM_RUN_DIR=" + run_dir.string();
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string pid = entry.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::error_code ec;
        const auto exe =
            std::filesystem::read_symlink(entry.path() / "exe", ec).filename().string();
        if (ec || !exe.starts_with("pvsim-")) {
            continue;
        }
        // A process that exits while it is read fails the read with ESRCH,
        // which libstdc++'s filebuf throws: it is no longer alive.
        std::string environ;
        std::string cmdline;
        try {
            environ = read_file(entry.path() / "environ");
            cmdline = read_file(entry.path() / "cmdline");
        } catch (const std::ios_base::failure&) {
            continue;
        }
        for (std::string* text : {&environ, &cmdline}) {
            std::replace(text->begin(), text->end(), '\0', '\n');
        }
        if ((environ + "\n").find(marker + "\n") != std::string::npos ||
            cmdline.find("--run-dir\n" + run_dir.string() + "\n") != std::string::npos) {
            count.processes.push_back(exe + " " + pid);
        }
    }
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
        if (entry.path().filename().string().find(shm_tag) != std::string::npos) {
            count.shared_memory.push_back(entry.path().filename().string());
        }
    }
    return count;
}

// count_run for the run that lived at `run_dir`, which may be gone: the
// run's tag is a function of its path alone (RunDir::shm_tag), so a
// directory made again at that path names the same objects.
inline RunCount count_run_at(const std::filesystem::path& run_dir) {
    const bool existed = std::filesystem::exists(run_dir);
    std::filesystem::create_directories(run_dir);
    const RunDir run = RunDir::open(run_dir);
    RunCount count = count_run(run.path(), run.shm_tag());
    if (!existed) {
        std::filesystem::remove_all(run_dir);
    }
    return count;
}

// A test's own run directory; `pvsim down` at the end whatever happened.
class CliRun {
  public:
    CliRun() : run_dir_(temp_.path() / "run"), run_(RunDir::open(run_dir_)) {
        std::filesystem::create_directories(scratch());
    }
    ~CliRun() {
        try {
            (void)run_cli(scratch(), {"--run-dir", run_dir_.string(), "down"});
        } catch (const std::exception&) {
        }
    }
    CliRun(const CliRun&) = delete;
    CliRun& operator=(const CliRun&) = delete;

    CliResult pvsim(std::vector<std::string> args) {
        args.insert(args.begin(), {"--run-dir", run_dir_.string()});
        return run_cli(scratch(), args);
    }
    const std::filesystem::path& dir() const { return run_dir_; }
    std::filesystem::path scratch() const { return temp_.path() / "scratch"; }
    // A file in the test's directory (not the run's: `down` keeps images).
    std::filesystem::path file(const std::string& name) const { return temp_.path() / name; }
    RunCount count() const { return count_run(run_.path(), run_.shm_tag()); }

    // A sparse image of `bytes` in the test's directory.
    std::filesystem::path image(const std::string& name, std::uint64_t bytes) const {
        const auto path = file(name);
        std::ofstream(path).close();
        std::filesystem::resize_file(path, bytes);
        return path;
    }

  private:
    TempDir temp_;
    std::filesystem::path run_dir_;
    RunDir run_;
};

}  // namespace pvsim::test
