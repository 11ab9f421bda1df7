// What every command runs against: the run directory and, opened on first
// use, the toolstack's privileged connections to the hypervisor and
// xenstored (dom0's, as xl's). A command in a script's background gets a
// session of its own (fork()), since a control connection carries one
// request at a time.
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/run_dir.hpp"
#include "hypervisor/client/control_client.hpp"
#include "tools/toolstack/programs.hpp"
#include "tools/toolstack/run.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::tools::cli {

class BackgroundJobs;
class Interruption;

// A command's failure: what() is the message the user sees after "pvsim: ".
class CommandError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Session {
  public:
    Session(RunDir run, std::ostream& out, toolstack::UpOptions up_options);

    const RunDir& run() const noexcept { return run_; }
    std::ostream& out() const noexcept { return out_; }
    const toolstack::UpOptions& up_options() const noexcept { return up_options_; }
    // The programs beside this executable (located on first use).
    const toolstack::Programs& programs();

    // Connections, opened on first use; CommandError "pvsim is not up in
    // <run> (run `pvsim up`)" when nothing answers.
    hypervisor::ControlClient& control();
    xenstore::client::Client& xenstore();
    // Drops the connections (after `down`, or when a daemon was killed).
    void disconnect();

    // A session on the same run with connections of its own, sharing the
    // output stream (lines are written whole under one lock).
    std::unique_ptr<Session> fork() const;

    // Writes `text` (a whole line or lines) under the output lock.
    void print(const std::string& text) const;

    // The script's background commands (shared by forked sessions).
    BackgroundJobs& background() const { return *background_; }

    // The command's Ctrl-C handling, when it has one (interruption.hpp;
    // shared by forked sessions); it outlives the session.
    Interruption* interruption() const noexcept { return interruption_; }
    void set_interruption(Interruption* interruption) noexcept { interruption_ = interruption; }

  private:
    RunDir run_;
    std::ostream& out_;
    std::shared_ptr<std::mutex> out_mutex_;
    toolstack::UpOptions up_options_;
    std::optional<toolstack::Programs> programs_;
    std::optional<hypervisor::ControlClient> control_;
    std::optional<xenstore::client::Client> xenstore_;
    std::shared_ptr<BackgroundJobs> background_;
    Interruption* interruption_ = nullptr;
};

}  // namespace pvsim::tools::cli
